"""`zhoubao calendar`: one year's working days as the calendar sees them, and their sources.

An administrator checks a year before it starts: which source has it, whether its 调休 days are
known, how many working days each month has, and the days that differ from Monday to Friday
(or that the configuration sets). Every ordinary day is left out.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot import messages
from scheduler.calendar import DayInfo, Source, WorkCalendar

_CONFIGURED = frozenset({Source.EXTRA_HOLIDAYS, Source.EXTRA_WORKDAYS})


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year, 12, 31) - first).days + 1)]


def _month_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _is_exception(info: DayInfo) -> bool:
    """Whether the day differs from Monday to Friday, or the configuration names it."""
    return info.workday != (info.day.weekday() < 5) or info.source in _CONFIGURED


def _day_line(info: DayInfo) -> str:
    name = info.holiday
    if info.workday and name is not None:
        name += messages.CALENDAR_MAKE_UP  # the holiday a make-up day serves: 国庆节调休
    elif info.workday and info.day.weekday() >= 5 and info.source not in _CONFIGURED:
        name = messages.CALENDAR_MAKE_UP
    template = messages.CALENDAR_DAY_WORKED if info.workday else messages.CALENDAR_DAY_OFF
    return template.format(
        day=_month_day(info.day),
        weekday=messages.CALENDAR_WEEKDAYS[info.day.weekday()],
        name=f"：{name}" if name else "",
        source=messages.CALENDAR_LINE_SOURCES[info.source],
    )


def _weeks_without_workdays(calendar: WorkCalendar, year: int) -> list[str]:
    """The Monday–Sunday weeks starting in `year` that have no working day, as 2月8日—2月14日."""
    first = date(year, 1, 1)
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    weeks = []
    while monday.year == year:
        week = [monday + timedelta(days=n) for n in range(7)]
        if not any(calendar.day_info(day).workday for day in week):
            weeks.append(f"{_month_day(week[0])}—{_month_day(week[-1])}")
        monday += timedelta(weeks=1)
    return weeks


def calendar_report(calendar: WorkCalendar, year: int) -> str:
    """Return the text of `zhoubao calendar --year YEAR` for `calendar`.

    Uses `WorkCalendar.day_info`, which logs nothing: the report says itself what is unknown.
    """
    source = calendar.source_of(year)
    lines = [
        messages.CALENDAR_TITLE.format(year=year),
        messages.CALENDAR_SOURCE.format(source=messages.CALENDAR_SOURCES[source]),
    ]
    if source is Source.HOLIDAYS_STATUTORY:
        lines.append(messages.CALENDAR_MAKE_UP_UNKNOWN.format(year=year))
    elif source is Source.WEEKDAYS:
        lines.append(messages.CALENDAR_NO_DATA.format(year=year))
    days = [calendar.day_info(day) for day in _days_of(year)]
    lines.append(messages.CALENDAR_TOTAL.format(count=sum(info.workday for info in days)))
    for month in range(1, 13):
        in_month = [info for info in days if info.day.month == month]
        count = sum(info.workday for info in in_month)
        lines.append(messages.CALENDAR_MONTH.format(month=month, count=count))
        lines.extend(_day_line(info) for info in in_month if _is_exception(info))
    weeks = _weeks_without_workdays(calendar, year)
    lines.append(messages.CALENDAR_NO_ISSUE_WEEKS.format(weeks="、".join(weeks) or messages.NONE))
    return "\n".join(lines)
