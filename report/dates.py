"""Dates as the bulletin prints them: Arabic digits, no zero padding, 年月日."""

from __future__ import annotations

from datetime import date, datetime

from report import messages


def format_date(day: date) -> str:
    """Return `day` as 2022年9月16日."""
    return messages.DATE.format(year=day.year, month=day.month, day=day.day)


def format_month_day(day: date) -> str:
    """Return `day` without its year, as 9月13日."""
    return messages.MONTH_DAY.format(month=day.month, day=day.day)


def format_period(start: date, end: date) -> str:
    """Return the period line, as （9月13日—9月16日）; it carries no year."""
    return messages.PERIOD.format(start=format_month_day(start), end=format_month_day(end))


def format_moment(moment: datetime, *, with_year: bool = False) -> str:
    """Return a moment as 9月16日（周五）12:00 (2023年1月3日（周二）12:00 `with_year`), in the
    time zone it carries."""
    return (messages.MOMENT_WITH_YEAR if with_year else messages.MOMENT).format(
        year=moment.year,
        month=moment.month,
        day=moment.day,
        weekday=messages.WEEKDAYS[moment.weekday()],
        hour=moment.hour,
        minute=moment.minute,
    )
