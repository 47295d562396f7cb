"""`zhoubao calendar`, and `zhoubao issue open` in a year beyond chinese-calendar (2027).

chinese-calendar 1.11 has 2004–2026; 2027's statutory days come from the holidays package. Its
Spring Festival (农历除夕 5 February, 春节 6–8, 补假 9–10 for the weekend) leaves Thursday 11
and Friday 12 February as working days until the notice's 调休 is configured. Commands run
in-process through `bot.cli.main`, as in test_cli.py, with the process clock pinned before
that week, so nothing depends on today's date.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot import messages
from bot.app import open_app_from
from bot.config import default_config_text, write_default_config
from storage.models import Role
from storage.repositories import issues, outbox
from tests.bot.cli_run import Run, zhoubao
from tests.fakes import Person, RecordingChannel, invite_code

BEFORE_SPRING_FESTIVAL_2027 = datetime(2027, 1, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def _before_spring_festival_2027() -> Iterator[None]:
    with time_machine.travel(BEFORE_SPRING_FESTIVAL_2027, tick=True):
        yield


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    return path


def _config_2027(config_path: Path) -> Path:
    """The default configuration, with 2027's Spring Festival week off and one make-up day."""
    text = default_config_text().replace(
        "extra_holidays = []", "extra_holidays = [2027-02-11, 2027-02-12]"
    )
    text = text.replace("extra_workdays = []", "extra_workdays = [2027-02-20]")
    config_path.write_text(text, encoding="utf-8")
    return config_path


async def _bind_staff(config: Path) -> None:
    """Bind 商务厅's staff, so that an opened issue would have someone to prompt."""
    app = await open_app_from(config)
    try:
        staff = Person(app, "商务厅小王", RecordingChannel())
        await staff.send(await invite_code(app, Role.STAFF, "商务厅"))
    finally:
        await app.close()


async def _issue_and_outbox(config: Path) -> tuple[bool, int]:
    """Whether any issue exists, and how many messages the outbox holds."""
    app = await open_app_from(config)
    try:
        async with app.sessions() as session:
            issue = await issues.current_issue(session)
            counts = await outbox.counts_by_status(session)
    finally:
        await app.close()
    return issue is not None, sum(counts.values())


def test_calendar_prints_year_with_sources_when_year_is_beyond_chinese_calendar(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, _config_2027(config_path), "calendar", "--year", "2027")

    assert (run.code, run.err) == (0, "")
    lines = run.out.splitlines()
    assert messages.CALENDAR_SOURCES["holidays-statutory"] in lines[1]
    assert messages.CALENDAR_MAKE_UP_UNKNOWN.format(year=2027) in lines
    assert "  2月8日（周一）放假：春节。来源：holidays 包" in lines
    assert "  2月11日（周四）放假。来源：配置 extra_holidays" in lines
    assert "  2月20日（周六）上班。来源：配置 extra_workdays" in lines
    assert lines[-1] == messages.CALENDAR_NO_ISSUE_WEEKS.format(weeks="2月8日—2月14日")


def test_calendar_shows_this_year_when_year_is_not_given(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "calendar")

    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == messages.CALENDAR_TITLE.format(year=2027)


def test_calendar_exits_2_when_year_is_out_of_range(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "calendar", "--year", "0")

    assert run == Run(2, "", messages.BAD_YEAR.format(value=0) + "\n")


def test_issue_open_prompts_nobody_when_spring_festival_2027_week_is_configured_off(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_bind_staff(_config_2027(config_path)))
    _, queued_before = asyncio.run(_issue_and_outbox(config_path))

    run = zhoubao(capsys, config_path, "issue", "open", "--date", "2027-02-08")

    assert run == Run(2, "", messages.NO_WORKING_DAYS.format(day="2027-02-08") + "\n")
    assert asyncio.run(_issue_and_outbox(config_path)) == (False, queued_before)


def test_issue_open_starts_after_spring_festival_when_2027_week_is_not_configured(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "issue", "open", "--date", "2027-02-08")

    assert run.code == 0, run.err
    assert "（2月11日—2月12日）" in run.out
    # Nobody is prompted during the holiday: the windows hear of it when the week's work begins.
    assert "2月11日（周四）09:00 通知各窗口报送" in run.out
