"""Every number and length of the configuration is bounded by what the database holds.

A value past a bound is refused by `load_config` under its own key, in Chinese, instead of
failing later on PostgreSQL (an Integer column holds 32 bits, a String(n) column n
characters) or as an internal error. The largest values allowed load, and a hall configured
with them syncs its windows, opens issues and stores figures on the real database.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path

import pytest

from bot.app import open_app_from
from bot.config import bounds as config_module
from bot.config import default_config_text, load_config
from bot.errors import ConfigError
from scheduler.clock import FrozenClock
from scheduler.jobs import open_issue
from storage.repositories import figures, windows
from tests.fakes import now_in_shanghai

FIRST_WINDOW = 'name = "商务厅窗口"\nshort_name = "商务厅"\norder = 10\n'
FIRST_CRITERION = 'key = "attendance"'
NUMBERING = "\n[numbering]\nyear = 2022\nnext_number = 31\nnext_total = 406\n"
LONG_KEY = "k" * 50


def edited(*replacements: tuple[str, str], append: str = "") -> str:
    text = default_config_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"expected exactly one {old!r} in the default configuration"
        text = text.replace(old, new)
    return text + append


def window(
    name: str = "商务厅窗口", short_name: str = "商务厅", order: str = "10"
) -> tuple[str, str]:
    return FIRST_WINDOW, f'name = "{name}"\nshort_name = "{short_name}"\norder = {order}\n'


def with_schedule(text: str, open_time: str, deadline_time: str, reminders: str | None) -> str:
    """`text` with its open_time, deadline_time and reminders replaced (None: no reminders key)."""
    lines = f'open_time = "{open_time}"\ndeadline_time = "{deadline_time}"\n'
    if reminders is not None:
        lines += f"reminders = {reminders}\n"
    edited, count = re.subn(r"^open_time = .*?^\]\n", lines, text, flags=re.DOTALL | re.MULTILINE)
    assert count == 1, "expected open_time … reminders = [ … ] in the default configuration"
    return edited


def load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "zhoubao.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


PROBLEM = "配置文件 {path} 有误：{key}：{problem}"
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (edited(window(order=str(10**20))), "windows 第 1 项的 order", f"应不大于 {INT32_MAX}"),
        (
            edited(window(order=str(INT32_MAX + 1))),
            "windows 第 1 项的 order",
            f"应不大于 {INT32_MAX}",
        ),
        (
            edited(window(order=str(INT32_MIN - 1))),
            "windows 第 1 项的 order",
            f"应不小于 {INT32_MIN}",
        ),
        (edited(window(name="窗" * 101)), "windows 第 1 项的 name", "不能超过 100 个字符"),
        (
            edited(window(short_name="简" * 51)),
            "windows 第 1 项的 short_name",
            "不能超过 50 个字符",
        ),
        (
            edited((FIRST_CRITERION, f'key = "{"k" * 51}"')),
            "bulletin.criteria 第 1 项的 key",
            "不能超过 50 个字符",
        ),
        (
            edited(('key = "business_environment"', f'key = "{"k" * 51}"')),
            "bulletin.subsections 第 1 项的 key",
            "不能超过 50 个字符",
        ),
        (edited(("copies = 80", "copies = 100001")), "bulletin.copies", "应不大于 100000"),
        (edited(("copies = 80", f"copies = {10**20}")), "bulletin.copies", "应不大于 100000"),
        (
            edited(append=NUMBERING.replace("next_number = 31", "next_number = 1001")),
            "numbering.next_number",
            "应不大于 1000",
        ),
        (
            edited(append=NUMBERING.replace("next_total = 406", f"next_total = {10**20}")),
            "numbering.next_total",
            "应不大于 1000000",
        ),
        (
            edited(("extra_holidays = []", "extra_holidays = [9999-12-31]")),
            "schedule.extra_holidays 第 1 项",
            "日期应在 2000 年到 2100 年之间",
        ),
        (
            edited(("extra_workdays = []", "extra_workdays = [2024-01-01, 1999-12-31]")),
            "schedule.extra_workdays 第 2 项",
            "日期应在 2000 年到 2100 年之间",
        ),
    ],
    ids=[
        "order-10**20",
        "order-int32-max+1",
        "order-int32-min-1",
        "name-101",
        "short-name-51",
        "criterion-key-51",
        "subsection-key-51",
        "copies-100001",
        "copies-10**20",
        "next-number-1001",
        "next-total-10**20",
        "extra-holiday-9999",
        "extra-workday-1999",
    ],
)
def test_value_past_its_bound_is_refused_under_its_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    message = load_error(tmp_path, text)

    assert message == PROBLEM.format(path=tmp_path / "zhoubao.toml", key=key, problem=problem)


DEADLINE_PROBLEM = (
    "截止时间应晚于开始征集的时间 open_time（{open}）：只有一个工作日的一周在当天开始征集、当天截止"
)


@pytest.mark.parametrize(
    ("open_time", "deadline_time"),
    [("09:00", "09:00"), ("12:00", "09:00"), ("23:59", "00:00")],
    ids=["equal", "before", "midnight"],
)
@pytest.mark.parametrize("reminders", ["[]", None], ids=["no-reminders", "default-reminders"])
def test_deadline_not_after_opening_is_refused_whatever_the_reminders(
    tmp_path: Path, open_time: str, deadline_time: str, reminders: str | None
) -> None:
    text = with_schedule(default_config_text(), open_time, deadline_time, reminders)

    message = load_error(tmp_path, text)

    # With the default reminders a reminder may be after the deadline too: listed after it.
    assert f"schedule.deadline_time：{DEADLINE_PROBLEM.format(open=open_time)}" in message
    assert message.index("schedule.deadline_time") < message.find("schedule.reminders") or (
        "schedule.reminders" not in message
    )


def test_deadline_a_minute_after_opening_loads(tmp_path: Path) -> None:
    path = tmp_path / "zhoubao.toml"
    path.write_text(with_schedule(edited(), "09:00", "09:01", "[]"), encoding="utf-8")

    loaded = load_config(path).schedule

    assert (loaded.open_time, loaded.deadline_time, loaded.reminders) == (
        time(9, 0),
        time(9, 1),
        (),
    )


# --- The largest values, on the database. ---------------------------------------------------


def maximal_config(db_url: str) -> str:
    """The default file with every bounded value at its bound (and the first window at both)."""
    second_window = 'name = "省卫健委窗口"\nshort_name = "省卫健委"\norder = 20\n'
    text = edited(
        window(name="窗" * 100, short_name="简" * 50, order=str(INT32_MAX)),
        (second_window, second_window.replace("order = 20", f"order = {INT32_MIN}")),
        (FIRST_CRITERION, f'key = "{LONG_KEY}"'),
        ('key = "business_environment"', f'key = "{LONG_KEY}"'),
        ("copies = 80", "copies = 100000"),
        ("extra_holidays = []", "extra_holidays = [2100-12-31]"),
        ("extra_workdays = []", "extra_workdays = [2000-01-01]"),
        ('[storage]\ndata_dir = "data"\n', f'[storage]\ndata_dir = "data"\nurl = "{db_url}"\n'),
        append="\n[numbering]\nyear = 2022\nnext_number = 1000\nnext_total = 1000000\n",
    )
    return with_schedule(text, "23:58", "23:59", '[{ day_offset = 0, time = "23:58" }]')


def test_largest_values_load(tmp_path: Path) -> None:
    path = tmp_path / "zhoubao.toml"
    path.write_text(maximal_config("sqlite+aiosqlite:///data/zhoubao.sqlite3"), encoding="utf-8")

    config = load_config(path)

    first = config.windows[0]
    assert (len(first.name), len(first.short_name), first.order) == (100, 50, INT32_MAX)
    assert config.windows[1].order == INT32_MIN
    assert config.bulletin.copies == config_module.MAX_COPIES


async def test_largest_values_sync_and_store_on_the_database(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "zhoubao.toml"
    path.write_text(maximal_config(db_url), encoding="utf-8")
    clock = FrozenClock(now_in_shanghai(2022, 9, 14))

    app = await open_app_from(path, clock.now)
    try:
        async with app.sessions() as session, session.begin():
            stored = await windows.active_windows(session)
            first = await open_issue(
                session, app.calendar, date(2022, 9, 14), app.numbering, clock.now()
            )
            second = await open_issue(
                session, app.calendar, date(2022, 9, 21), app.numbering, clock.now()
            )
            await figures.save_statistics(
                session, first.issue.id, {LONG_KEY: (2**40, 2**40)}, None, clock.now()
            )
            await figures.save_verdicts(
                session, first.issue.id, {LONG_KEY: "好"}, None, clock.now()
            )
        async with app.sessions() as session:
            saved = await figures.statistics(session, first.issue.id)
            verdicts = await figures.verdicts(session, first.issue.id)
    finally:
        await app.close()

    assert [w.position for w in stored][:1] == [INT32_MIN]
    assert [w.position for w in stored][-1] == INT32_MAX
    assert ("窗" * 100, "简" * 50) in [(w.name, w.short_name) for w in stored]
    assert (first.issue.number, first.issue.total_number) == (1000, 1_000_000)
    assert (second.issue.number, second.issue.total_number) == (1001, 1_000_001)
    assert saved == {LONG_KEY: (2**40, 2**40)}
    assert verdicts == {LONG_KEY: "好"}
