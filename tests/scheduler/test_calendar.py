"""Working days, ISO weeks and reporting periods of `WorkCalendar`."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from scheduler.calendar import DayInfo, Period, Source, WorkCalendar, _from_holidays_package
from scheduler.clock import SHANGHAI


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the warnings logged by the calendar module."""
    return [
        record
        for record in caplog.records
        if record.name == "scheduler.calendar" and record.levelno == logging.WARNING
    ]


def test_period_starts_tuesday_when_monday_is_mid_autumn_2022() -> None:
    period = WorkCalendar().period_for(date(2022, 9, 14))

    assert period == Period(
        start=date(2022, 9, 13),
        end=date(2022, 9, 16),
        workdays=(date(2022, 9, 13), date(2022, 9, 14), date(2022, 9, 15), date(2022, 9, 16)),
    )


def test_period_is_monday_to_friday_when_week_has_no_holiday() -> None:
    period = WorkCalendar().period_for(date(2022, 9, 21))

    assert period == Period(
        start=date(2022, 9, 19),
        end=date(2022, 9, 23),
        workdays=tuple(date(2022, 9, day) for day in range(19, 24)),
    )


def test_working_days_include_saturday_when_it_is_a_make_up_day_2023_labour_day() -> None:
    # 2023-05-01..03 were the Labour Day holiday; Saturday 6 May was worked in exchange
    days = WorkCalendar().working_days(date(2023, 5, 1))

    assert days == [date(2023, 5, 4), date(2023, 5, 5), date(2023, 5, 6)]


def test_period_ends_on_saturday_when_it_is_a_make_up_day_2025_spring_festival() -> None:
    # Spring Festival 2025 ran to Tuesday 4 February; Saturday 8 February was worked
    period = WorkCalendar().period_for(date(2025, 2, 3))

    assert period == Period(
        start=date(2025, 2, 5),
        end=date(2025, 2, 8),
        workdays=(date(2025, 2, 5), date(2025, 2, 6), date(2025, 2, 7), date(2025, 2, 8)),
    )


def test_period_is_the_weekend_when_national_day_week_has_only_make_up_days_2022() -> None:
    # 1-7 October 2022 off; Saturday 8 and Sunday 9 were the make-up workdays
    period = WorkCalendar().period_for(date(2022, 10, 5))

    assert period == Period(
        start=date(2022, 10, 8),
        end=date(2022, 10, 9),
        workdays=(date(2022, 10, 8), date(2022, 10, 9)),
    )


@pytest.mark.parametrize("day", [date(2022, 1, 31), date(2022, 2, 6), date(2026, 2, 18)])
def test_period_is_none_when_the_whole_week_is_spring_festival(day: date) -> None:
    assert WorkCalendar().period_for(day) is None


def test_working_days_cross_the_year_when_sunday_make_up_day_is_in_january() -> None:
    # New Year 2026: Sunday 4 January was a make-up workday, in the week of 29 December 2025
    days = WorkCalendar().working_days(date(2025, 12, 29))

    assert days == [date(2025, 12, 29), date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 4)]


def test_is_workday_false_when_date_is_configured_extra_holiday() -> None:
    calendar = WorkCalendar(extra_holidays=frozenset({date(2022, 9, 13)}))

    assert calendar.is_workday(date(2022, 9, 13)) is False


def test_is_workday_true_when_date_is_configured_extra_workday() -> None:
    calendar = WorkCalendar(extra_workdays=frozenset({date(2022, 9, 12)}))

    assert calendar.is_workday(date(2022, 9, 12)) is True


def test_is_workday_false_when_configured_holiday_is_an_official_make_up_day() -> None:
    calendar = WorkCalendar(extra_holidays=frozenset({date(2022, 10, 8)}))

    assert calendar.is_workday(date(2022, 10, 8)) is False


def test_period_is_none_when_config_makes_every_day_of_week_a_holiday() -> None:
    week = frozenset(date(2022, 9, day) for day in range(19, 26))
    calendar = WorkCalendar(extra_holidays=week)

    assert calendar.period_for(date(2022, 9, 21)) is None


def test_period_shrinks_when_config_adds_a_holiday_on_friday() -> None:
    calendar = WorkCalendar(extra_holidays=frozenset({date(2022, 9, 16)}))

    period = calendar.period_for(date(2022, 9, 14))

    assert period == Period(
        start=date(2022, 9, 13),
        end=date(2022, 9, 15),
        workdays=(date(2022, 9, 13), date(2022, 9, 14), date(2022, 9, 15)),
    )


def test_period_extends_to_saturday_when_config_adds_a_make_up_workday() -> None:
    calendar = WorkCalendar(extra_workdays=frozenset({date(2022, 9, 17)}))

    period = calendar.period_for(date(2022, 9, 14))

    assert period is not None
    assert (period.start, period.end) == (date(2022, 9, 13), date(2022, 9, 17))


def test_constructor_raises_when_date_is_both_extra_holiday_and_extra_workday() -> None:
    clash = frozenset({date(2024, 6, 1)})

    with pytest.raises(ValueError, match="2024-06-01"):
        WorkCalendar(extra_holidays=clash, extra_workdays=clash)


def test_covers_true_when_package_has_the_year() -> None:
    assert WorkCalendar().covers(2022) is True


def test_covers_false_when_package_lacks_the_year() -> None:
    assert WorkCalendar().covers(2099) is False


def test_working_days_are_monday_to_friday_when_year_is_not_covered() -> None:
    days = WorkCalendar().working_days(date(2099, 3, 2))

    assert days == [date(2099, 3, day) for day in range(2, 7)]


def test_warning_logged_once_when_uncovered_year_is_queried_repeatedly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()

    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        calendar.working_days(date(2099, 3, 2))
        calendar.period_for(date(2099, 3, 10))
        calendar.is_workday(date(2099, 12, 31))

    assert [record.__dict__["year"] for record in _warnings(caplog)] == [2099]


def test_warning_logged_per_year_when_several_uncovered_years_are_queried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()

    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        calendar.is_workday(date(2098, 1, 5))
        calendar.is_workday(date(2099, 1, 5))
        calendar.is_workday(date(2098, 1, 6))

    assert [record.__dict__["year"] for record in _warnings(caplog)] == [2098, 2099]


def test_no_warning_when_uncovered_date_is_a_configured_override(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar(extra_holidays=frozenset({date(2099, 1, 1)}))

    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        calendar.is_workday(date(2099, 1, 1))

    assert _warnings(caplog) == []


def test_no_warning_when_year_is_covered(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        WorkCalendar().working_days(date(2022, 9, 12))

    assert _warnings(caplog) == []


def test_week_of_returns_monday_and_sunday_when_day_is_midweek() -> None:
    assert WorkCalendar().week_of(date(2022, 9, 14)) == (date(2022, 9, 12), date(2022, 9, 18))


def test_week_of_returns_previous_monday_when_day_is_sunday() -> None:
    assert WorkCalendar().week_of(date(2022, 9, 18)) == (date(2022, 9, 12), date(2022, 9, 18))


def test_week_of_spans_the_new_year_when_iso_week_does() -> None:
    assert WorkCalendar().week_of(date(2026, 1, 1)) == (date(2025, 12, 29), date(2026, 1, 4))


def test_working_days_raises_when_start_is_not_a_monday() -> None:
    with pytest.raises(ValueError, match="not a Monday"):
        WorkCalendar().working_days(date(2022, 9, 13))


def test_is_workday_raises_when_given_a_datetime() -> None:
    with pytest.raises(TypeError):
        WorkCalendar().is_workday(datetime(2022, 9, 13, 9, tzinfo=SHANGHAI))


def test_calendars_are_equal_when_configured_alike_after_warning() -> None:
    warned = WorkCalendar()
    warned.is_workday(date(2099, 1, 5))

    assert warned == WorkCalendar()
    assert hash(warned) == hash(WorkCalendar())


# --- beyond chinese-calendar: the holidays package, and where each answer comes from -------
# chinese-calendar 1.11 has 2004–2026. For 2027 the holidays package gives the statutory days:
# 元旦 1 January, 农历除夕 Friday 5 February, 春节 Saturday 6 to Monday 8 February, and the
# 补假 owed for the weekend: Tuesday 9 and Wednesday 10 February. The notice's 调休 (which
# would stretch the break over the rest of the week) is not known to either package yet.


def test_spring_festival_2027_is_off_when_year_is_beyond_chinese_calendar() -> None:
    calendar = WorkCalendar()

    days_off = [date(2027, 2, day) for day in (5, 8, 9, 10)]

    assert [calendar.is_workday(day) for day in days_off] == [False] * 4
    assert calendar.period_for(date(2027, 2, 8)) == Period(
        start=date(2027, 2, 11),
        end=date(2027, 2, 12),
        workdays=(date(2027, 2, 11), date(2027, 2, 12)),
    )


def test_period_is_none_when_config_adds_the_rest_of_spring_festival_week_2027() -> None:
    calendar = WorkCalendar(extra_holidays=frozenset({date(2027, 2, 11), date(2027, 2, 12)}))

    assert calendar.period_for(date(2027, 2, 8)) is None


def test_period_ends_on_saturday_when_config_adds_a_make_up_saturday_2027() -> None:
    calendar = WorkCalendar(extra_workdays=frozenset({date(2027, 2, 20)}))

    period = calendar.period_for(date(2027, 2, 17))

    assert calendar.is_workday(date(2027, 2, 20)) is True
    assert period is not None
    assert (period.start, period.end) == (date(2027, 2, 15), date(2027, 2, 20))


def test_working_days_skip_labour_day_and_its_make_up_days_2027() -> None:
    # 1–2 May 2027 are a weekend: 补假 on Monday 3 and Tuesday 4
    days = WorkCalendar().working_days(date(2027, 5, 3))

    assert days == [date(2027, 5, 5), date(2027, 5, 6), date(2027, 5, 7)]


def test_warning_names_make_up_days_once_when_year_has_only_statutory_holidays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()

    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        calendar.period_for(date(2027, 2, 8))
        calendar.period_for(date(2027, 10, 4))

    warnings = _warnings(caplog)
    assert [record.__dict__["year"] for record in warnings] == [2027]
    assert "调休" in warnings[0].getMessage()


def test_source_of_year_is_the_first_source_that_has_it() -> None:
    calendar = WorkCalendar()

    assert calendar.source_of(2026) is Source.CHINESE_CALENDAR
    assert calendar.source_of(2027) is Source.HOLIDAYS_STATUTORY
    assert calendar.source_of(2101) is Source.WEEKDAYS  # beyond the holidays package too


def test_covers_false_when_only_statutory_holidays_are_known() -> None:
    assert WorkCalendar().covers(2027) is False


def test_working_days_are_monday_to_friday_when_no_source_has_the_year() -> None:
    days = WorkCalendar().working_days(date(2101, 1, 3))

    assert days == [date(2101, 1, day) for day in range(3, 8)]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # the make-up Saturday after National Day 2026, named after the holiday it serves
        (date(2026, 10, 10), DayInfo(date(2026, 10, 10), True, Source.CHINESE_CALENDAR, "国庆节")),
        (date(2026, 2, 17), DayInfo(date(2026, 2, 17), False, Source.CHINESE_CALENDAR, "春节")),
        (date(2026, 3, 4), DayInfo(date(2026, 3, 4), True, Source.CHINESE_CALENDAR)),
        (date(2027, 2, 5), DayInfo(date(2027, 2, 5), False, Source.HOLIDAYS_STATUTORY, "农历除夕")),
        (
            date(2027, 2, 9),
            DayInfo(date(2027, 2, 9), False, Source.HOLIDAYS_STATUTORY, "春节（补假）"),
        ),
        (date(2027, 2, 13), DayInfo(date(2027, 2, 13), False, Source.HOLIDAYS_STATUTORY)),
        (date(2101, 1, 3), DayInfo(date(2101, 1, 3), True, Source.WEEKDAYS)),
    ],
)
def test_day_info_names_source_and_holiday_when_asked(day: date, expected: DayInfo) -> None:
    assert WorkCalendar().day_info(day) == expected


def test_day_info_names_the_configuration_when_a_day_is_overridden() -> None:
    calendar = WorkCalendar(
        extra_holidays=frozenset({date(2026, 10, 10)}),
        extra_workdays=frozenset({date(2027, 2, 9)}),
    )

    assert calendar.day_info(date(2026, 10, 10)) == DayInfo(
        date(2026, 10, 10), False, Source.EXTRA_HOLIDAYS
    )
    assert calendar.day_info(date(2027, 2, 9)) == DayInfo(
        date(2027, 2, 9), True, Source.EXTRA_WORKDAYS
    )


def test_day_info_logs_nothing_when_year_is_partly_known(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        WorkCalendar().day_info(date(2027, 2, 8))

    assert _warnings(caplog) == []


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_holidays_package_agrees_with_chinese_calendar_when_both_have_the_notice(
    year: int,
) -> None:
    # What the 2027 fallback reads, checked on the years whose notices both packages carry
    known = _from_holidays_package(year)
    days = [
        date(year, 1, 1) + timedelta(days=n) for n in range(date(year, 12, 31).timetuple().tm_yday)
    ]

    def workday(day: date) -> bool:
        if day in known.days_off:
            return False
        return day in known.make_up_days or day.weekday() < 5

    assert known.source is Source.HOLIDAYS
    assert [day for day in days if workday(day) != chinese_calendar.is_workday(day)] == []


def test_holidays_package_has_2026_make_up_saturday_after_national_day() -> None:
    known = _from_holidays_package(2026)

    assert date(2026, 10, 10) in known.make_up_days
    assert set(known.make_up_days) == {
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    }  # fmt: skip
    assert {date(2026, 2, day) for day in range(16, 24) if date(2026, 2, day).weekday() < 5} <= set(
        known.days_off
    )
