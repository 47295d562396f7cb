"""China's working-day calendar: statutory holidays, make-up workdays and reporting periods.

Two packaged sources, the first that has the year wins: `chinese_calendar`, which carries each
year's State Council notice (holidays and 调休 make-up workdays), then the `holidays` package,
which computes the statutory holidays of any year from the lunar calendar (with the 补假 a
holiday on a weekend earns) and carries the notices it has been given. Configured extra holidays
and workdays override both. A year neither covers is Monday to Friday.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

import chinese_calendar
import holidays

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Period:
    """The reporting period of one week: its first and last working day, and all of them."""

    start: date
    end: date
    workdays: tuple[date, ...]


class Source(StrEnum):
    """Where the calendar's word on a day comes from."""

    CHINESE_CALENDAR = "chinese-calendar"  # the year's notice, holidays and make-up workdays
    HOLIDAYS = "holidays"  # the holidays package, with the year's notice
    HOLIDAYS_STATUTORY = "holidays-statutory"  # the holidays package; make-up days not known
    EXTRA_HOLIDAYS = "extra_holidays"  # the configuration
    EXTRA_WORKDAYS = "extra_workdays"  # the configuration
    WEEKDAYS = "weekdays"  # no source has the year: Monday to Friday


# The sources that know a year's make-up workdays as well as its holidays
COMPLETE_SOURCES = frozenset({Source.CHINESE_CALENDAR, Source.HOLIDAYS})
# The sources that speak for a year without knowing its make-up workdays
PARTIAL_SOURCES = frozenset({Source.HOLIDAYS_STATUTORY, Source.WEEKDAYS})


@dataclass(frozen=True, slots=True)
class DayInfo:
    """Whether `day` is worked, which source says so, and the holiday's name if one is known.

    For a day off, `holiday` names the holiday (None for an ordinary weekend); for a make-up
    workday, the holiday it makes up for when the source says.
    """

    day: date
    workday: bool
    source: Source
    holiday: str | None = None


@dataclass(frozen=True, slots=True)
class _Year:
    """One year as a source sees it: its days off and make-up workdays besides Mon–Fri."""

    source: Source
    days_off: Mapping[date, str]
    make_up_days: Mapping[date, str | None]


def _chinese_calendar_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _chinese_name(english: str | None) -> str | None:
    """The Chinese name of a `chinese_calendar` holiday (it stores the English one)."""
    if english is None:
        return None
    try:
        return str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        return english


def _from_holidays_package(year: int) -> _Year:
    """`year` per the `holidays` package: statutory days, and the notice's days if it has it."""
    # The next year too: its notice may move a working day into this year's last days.
    china = holidays.country_holidays("CN", years=(year, year + 1), language="zh_CN")
    days_off = {day: str(name) for day, name in china.items() if day.year == year}
    if not days_off:
        return _Year(Source.WEEKDAYS, {}, {})
    # The notices the package encodes, by year (a class attribute of its China calendar)
    notices: Mapping[int, object] = getattr(china, "special_public_holidays", {})
    make_up_days: dict[date, str | None] = {
        day: None for day in china.weekend_workdays if day.year == year
    }
    source = Source.HOLIDAYS if year in notices else Source.HOLIDAYS_STATUTORY
    return _Year(source, days_off, make_up_days)


def _require_date(day: date) -> date:
    """Return `day`, or raise TypeError if it is a datetime (its date depends on the zone)."""
    if isinstance(day, datetime):
        raise TypeError("expected a date, got a datetime; convert it with .astimezone(tz).date()")
    return day


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Working days in mainland China, per the packaged sources, with configured overrides."""

    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    # Years already warned about, and years already looked up; mutable state kept out of
    # equality, hashing and repr
    _warned_years: set[int] = field(
        default_factory=set, init=False, repr=False, compare=False, hash=False
    )
    _years: dict[int, _Year] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        clash = self.extra_holidays & self.extra_workdays
        if clash:
            days = ", ".join(sorted(day.isoformat() for day in clash))
            raise ValueError(f"dates configured as both holiday and workday: {days}")

    def source_of(self, year: int) -> Source:
        """Return the source that has `year`: chinese-calendar, holidays, or none (WEEKDAYS)."""
        return self._year(year).source

    def covers(self, year: int) -> bool:
        """Return whether a source has `year`'s official schedule, make-up workdays included."""
        return self.source_of(year) in COMPLETE_SOURCES

    def day_info(self, day: date) -> DayInfo:
        """Return whether `day` is a working day, which source says so, and the holiday's name.

        Unlike `is_workday`, this logs nothing: the answer names its source.
        """
        _require_date(day)
        if day in self.extra_holidays:
            return DayInfo(day, False, Source.EXTRA_HOLIDAYS)
        if day in self.extra_workdays:
            return DayInfo(day, True, Source.EXTRA_WORKDAYS)
        year = self._year(day.year)
        if year.source is Source.CHINESE_CALENDAR:
            off, name = chinese_calendar.get_holiday_detail(day)
            return DayInfo(day, not off, year.source, _chinese_name(name))
        if day in year.days_off:
            return DayInfo(day, False, year.source, year.days_off[day])
        if day in year.make_up_days:
            return DayInfo(day, True, year.source, year.make_up_days[day])
        return DayInfo(day, day.weekday() < 5, year.source)

    def is_workday(self, day: date) -> bool:
        """Return whether `day` is a working day; warn once a year when the data is partial."""
        info = self.day_info(day)
        if info.source in PARTIAL_SOURCES:
            self._warn_uncovered(day.year, info.source)
        return info.workday

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

    def _year(self, year: int) -> _Year:
        """`year` as its first source sees it, looked up once."""
        known = self._years.get(year)
        if known is None:
            if _chinese_calendar_covers(year):
                known = _Year(Source.CHINESE_CALENDAR, {}, {})
            else:
                known = _from_holidays_package(year)
            self._years[year] = known
        return known

    def _warn_uncovered(self, year: int, source: Source) -> None:
        """Log once per year that `year`'s make-up workdays (or all its holidays) are unknown."""
        if year in self._warned_years:
            return
        self._warned_years.add(year)
        if source is Source.HOLIDAYS_STATUTORY:
            logger.warning(
                "make-up workdays (调休) for year not published in any source; using statutory "
                "holidays from the holidays package; set extra holidays/workdays",
                extra={"year": year},
            )
        else:
            logger.warning(
                "no holiday data for year, assuming Monday to Friday; set extra holidays/workdays",
                extra={"year": year},
            )
