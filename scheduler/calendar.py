"""China's working-day calendar: statutory holidays, make-up workdays and reporting periods."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import chinese_calendar

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Period:
    """The reporting period of one week: its first and last working day, and all of them."""

    start: date
    end: date
    workdays: tuple[date, ...]


def _require_date(day: date) -> date:
    """Return `day`, or raise TypeError if it is a datetime (its date depends on the zone)."""
    if isinstance(day, datetime):
        raise TypeError("expected a date, got a datetime; convert it with .astimezone(tz).date()")
    return day


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Working days in mainland China, per `chinese_calendar`, with configured overrides."""

    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    # Years already warned about; mutable state kept out of equality, hashing and repr
    _warned_years: set[int] = field(
        default_factory=set, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        clash = self.extra_holidays & self.extra_workdays
        if clash:
            days = ", ".join(sorted(day.isoformat() for day in clash))
            raise ValueError(f"dates configured as both holiday and workday: {days}")

    def covers(self, year: int) -> bool:
        """Return whether `chinese_calendar` has the official holiday schedule for `year`."""
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: date) -> bool:
        """Return whether `day` is a working day."""
        _require_date(day)
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._warn_uncovered(day.year)
            return day.weekday() < 5

    def week_of(self, day: date) -> tuple[date, date]:
        """Return the Monday and Sunday of `day`'s ISO week."""
        monday = _require_date(day) - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)

    def working_days(self, week_monday: date) -> list[date]:
        """Return the working days of the Monday–Sunday week starting `week_monday`."""
        if _require_date(week_monday).weekday() != 0:
            raise ValueError(f"{week_monday.isoformat()} is not a Monday")
        days = (week_monday + timedelta(days=offset) for offset in range(7))
        return [day for day in days if self.is_workday(day)]

    def period_for(self, day: date) -> Period | None:
        """Return the reporting period of `day`'s week, or None if the week has no working day."""
        monday, _ = self.week_of(day)
        workdays = self.working_days(monday)
        if not workdays:
            return None
        return Period(start=workdays[0], end=workdays[-1], workdays=tuple(workdays))

    def _warn_uncovered(self, year: int) -> None:
        """Log once per year that `year` falls back to Monday–Friday."""
        if year in self._warned_years:
            return
        self._warned_years.add(year)
        logger.warning(
            "no holiday data for year, assuming Monday to Friday; set extra holidays/workdays",
            extra={"year": year},
        )
