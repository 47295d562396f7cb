"""A new user on a Saturday: init, open, status, and a week that compiles only at its deadline.

The administrator's commands run in-process through `bot.cli.main` with the process clock
moved (time-machine) to Saturday 17 September 2022, 10:00 in Shanghai; the weekly jobs then
run on a frozen clock through the weekend and the next week.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

import pytest
import time_machine

from bot import messages
from bot.app import open_app_from
from bot.cli import main
from handlers import messages as handler_messages
from scheduler.clock import SHANGHAI, FrozenClock
from scheduler.jobs import run_due_jobs
from storage.models import IssueStatus
from storage.repositories import issues

SATURDAY = datetime(2022, 9, 17, 10, tzinfo=SHANGHAI)
NEXT_WEEK = "（9月19日—9月23日）"
DEADLINE = "9月23日（周五）12:00"


def _zhoubao(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out + err


async def _jobs_at(config: Path, *moments: datetime) -> list[list[str]]:
    clock = FrozenClock(moments[0])
    app = await open_app_from(config, clock.now)
    try:
        done = []
        for moment in moments:
            clock.set(moment)
            done.append(await run_due_jobs(app.sessions, app.week, moment))
        async with app.sessions() as session:
            issue = await issues.current_issue(session)
            assert issue is not None and issue.status == IssueStatus.CLOSED
        return done
    finally:
        await app.close()


def test_new_hall_on_a_saturday_opens_next_week_and_compiles_nothing_before_its_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "zhoubao.toml"
    with time_machine.travel(SATURDAY, tick=True):
        init_code, init_out = _zhoubao(capsys, config, "init")
        open_code, opened = _zhoubao(capsys, config, "issue", "open")
        status_code, status = _zhoubao(capsys, config, "status")

    assert init_code == 0, init_out
    assert (open_code, opened.splitlines()[0]) == (
        0,
        f"已开启 2022年第1期（总第1期），报送期间{NEXT_WEEK}，截止时间 {DEADLINE}。",
    )
    assert "9月19日（周一）09:00 通知各窗口报送" in opened
    assert messages.NUMBERS_FIRST.format(year=2022) in opened
    assert (status_code, status.splitlines()[:2]) == (
        0,
        [
            f"2022年第1期（总第1期）{NEXT_WEEK}",
            handler_messages.issue_state("open", DEADLINE, None),
        ],
    )

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2022, 9, day, hour, minute, tzinfo=SHANGHAI)

    done = asyncio.run(
        _jobs_at(
            config,
            at(17, 10, 1),  # Saturday: nothing more to do
            at(18, 23, 59),  # Sunday night
            at(19, 9),  # Monday: the prompt (no window has staff bound yet)
            at(23, 11, 59),  # just before the deadline: reminders went out, nothing compiled
            at(23, 12),  # the deadline: closed and compiled
        )
    )

    assert done[:3] == [[], [], ["prompt 2022-09-19 0"]]
    assert not any(job.startswith("close") for job in done[3])
    assert done[4] == [f"close {date(2022, 9, 19)}"]
