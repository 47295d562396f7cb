"""When things happen in an issue's week: open, reminders and deadline, as aware datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.calendar import Period, WorkCalendar


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """The schedule settings, passed in by `bot` from the configuration."""

    zone: ZoneInfo
    open_time: time  # on the first working day of the week
    deadline_time: time  # on the last working day of the period
    reminders: tuple[tuple[int, time], ...]  # (working days before the deadline day, time)


@dataclass(frozen=True, slots=True)
class WeekPlan:
    period: Period
    open_at: datetime
    reminders: tuple[datetime, ...]  # in order, all after open_at and before the deadline
    deadline: datetime


def plan_week(calendar: WorkCalendar, rules: ScheduleRules, day: date) -> WeekPlan | None:
    """The plan of the week containing `day`; None for a week without working days."""
    period = calendar.period_for(day)
    if period is None:
        return None
    open_at = datetime.combine(period.start, rules.open_time, rules.zone)
    deadline = datetime.combine(period.end, rules.deadline_time, rules.zone)
    reminders = []
    for offset, at in rules.reminders:
        index = len(period.workdays) - 1 + offset
        if index < 0:
            continue  # the period is too short for a reminder that many working days ahead
        moment = datetime.combine(period.workdays[index], at, rules.zone)
        if open_at < moment < deadline:
            reminders.append(moment)
    return WeekPlan(period, open_at, tuple(sorted(set(reminders))), deadline)


def plans_around(calendar: WorkCalendar, rules: ScheduleRules, now: datetime) -> list[WeekPlan]:
    """The plans of last week and this week (after downtime, last week may be unfinished)."""
    today = now.astimezone(rules.zone).date()
    plans = []
    for day in (today - timedelta(days=7), today):
        plan = plan_week(calendar, rules, day)
        if plan is not None:
            plans.append(plan)
    return plans


UPCOMING_WEEKS = 8  # the longest run of weeks without a working day is far shorter


def upcoming_plan(calendar: WorkCalendar, rules: ScheduleRules, now: datetime) -> WeekPlan | None:
    """The plan of the first week, this one or later, whose deadline is still ahead of `now`.

    That is the issue a hall starting today can still collect: on a weekend, or after this
    week's deadline, it is next week's (or the first week after a holiday).
    """
    today = now.astimezone(rules.zone).date()
    for week in range(UPCOMING_WEEKS):
        plan = plan_week(calendar, rules, today + timedelta(weeks=week))
        if plan is not None and plan.deadline > now:
            return plan
    return None
