"""Working days, ISO weeks and reporting periods of `WorkCalendar`."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest

from scheduler.calendar import Period, WorkCalendar
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
