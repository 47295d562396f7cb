"""`zhoubao calendar`'s text: a year's sources, working days per month, and the exceptions."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from bot import messages
from bot.calendar_report import calendar_report
from scheduler.calendar import WorkCalendar

# 2027 as an administrator would configure it once the notice is out (illustrative days)
CONFIGURED_2027 = WorkCalendar(
    extra_holidays=frozenset({date(2027, 2, 11), date(2027, 2, 12)}),
    extra_workdays=frozenset({date(2027, 2, 20)}),
)


def _month(text: str, month: int) -> list[str]:
    """The lines of `month`: its header and the exceptions below it."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"{month}月：")))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return lines[start:end]


def test_report_lists_holidays_package_days_and_configured_days_when_year_is_2027() -> None:
    text = calendar_report(CONFIGURED_2027, 2027)

    assert _month(text, 2) == [
        "2月：工作日 15 天",
        "  2月5日（周五）放假：农历除夕。来源：holidays 包",
        "  2月8日（周一）放假：春节。来源：holidays 包",
        "  2月9日（周二）放假：春节（补假）。来源：holidays 包",
        "  2月10日（周三）放假：春节（补假）。来源：holidays 包",
        "  2月11日（周四）放假。来源：配置 extra_holidays",
        "  2月12日（周五）放假。来源：配置 extra_holidays",
        "  2月20日（周六）上班。来源：配置 extra_workdays",
    ]


def test_report_warns_that_make_up_days_are_unknown_when_only_statutory_days_are() -> None:
    lines = calendar_report(CONFIGURED_2027, 2027).splitlines()

    assert lines[:3] == [
        messages.CALENDAR_TITLE.format(year=2027),
        messages.CALENDAR_SOURCE.format(source=messages.CALENDAR_SOURCES["holidays-statutory"]),
        messages.CALENDAR_MAKE_UP_UNKNOWN.format(year=2027),
    ]
    assert lines[-1] == messages.CALENDAR_NO_ISSUE_WEEKS.format(weeks="2月8日—2月14日")


def test_report_names_make_up_saturday_and_its_holiday_when_year_is_2026() -> None:
    text = calendar_report(WorkCalendar(), 2026)

    assert messages.CALENDAR_SOURCES["chinese-calendar"] in text
    assert "注意" not in text
    assert _month(text, 10)[-1] == "  10月10日（周六）上班：国庆节调休。来源：chinese-calendar"
    assert messages.CALENDAR_TOTAL.format(count=248) in text.splitlines()


def test_report_lists_no_ordinary_day_when_year_has_no_holiday_data() -> None:
    lines = calendar_report(WorkCalendar(), 2101).splitlines()

    assert lines[2] == messages.CALENDAR_NO_DATA.format(year=2101)
    assert [line for line in lines if line.startswith("  ")] == []
    assert lines[3] == messages.CALENDAR_TOTAL.format(count=260)
    assert lines[-1] == messages.CALENDAR_NO_ISSUE_WEEKS.format(weeks=messages.NONE)


def test_report_logs_nothing_when_year_is_partly_known(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        calendar_report(WorkCalendar(), 2027)

    assert caplog.records == []
