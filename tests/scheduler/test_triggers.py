"""The week trigger fires at the planned moments, across holidays and make-up working days."""

from __future__ import annotations

from datetime import date, datetime, time

from scheduler.calendar import WorkCalendar
from scheduler.clock import SHANGHAI
from scheduler.plan import ScheduleRules
from scheduler.triggers import WeekEventTrigger

RULES = ScheduleRules(
    zone=SHANGHAI,
    open_time=time(9),
    deadline_time=time(12),
    reminders=((-1, time(15)), (0, time(9))),
)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def fire_times(start: datetime, count: int) -> list[datetime]:
    trigger = WeekEventTrigger(WorkCalendar(), RULES)
    times: list[datetime] = []
    previous = None
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, start)
        assert fire is not None
        times.append(fire)
        previous = fire
    return times


def test_fires_from_tuesday_when_monday_is_mid_autumn_holiday() -> None:
    assert fire_times(at(date(2022, 9, 12), 0), 4) == [
        at(date(2022, 9, 13), 9),  # open: Monday 12 September was 中秋节
        at(date(2022, 9, 15), 15),  # the working day before the deadline day
        at(date(2022, 9, 16), 9),
        at(date(2022, 9, 16), 12),  # deadline
    ]


def test_deadline_falls_on_make_up_saturday_when_week_has_one() -> None:
    assert fire_times(at(date(2023, 5, 1), 0), 4) == [
        at(date(2023, 5, 4), 9),
        at(date(2023, 5, 5), 15),
        at(date(2023, 5, 6), 9),
        at(date(2023, 5, 6), 12),  # Saturday 6 May 2023, a make-up working day
    ]


def test_skips_week_without_working_days_when_whole_week_is_holiday() -> None:
    # 2017-10-02…08 was all National Day holiday; the next event is the week after.
    assert fire_times(at(date(2017, 10, 2), 0), 1) == [at(date(2017, 10, 9), 9)]


def test_next_fire_is_after_previous_when_fired_at_a_planned_moment() -> None:
    trigger = WeekEventTrigger(WorkCalendar(), RULES)
    opened = at(date(2022, 9, 19), 9)
    assert trigger.get_next_fire_time(opened, opened) == at(date(2022, 9, 22), 15)
