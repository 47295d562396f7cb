"""An APScheduler trigger that fires at the week's planned moments: open, reminders, deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from scheduler.calendar import WorkCalendar
from scheduler.plan import ScheduleRules, plan_week

HORIZON_WEEKS = 60  # look this far ahead; a trigger that finds nothing would end its job


class WeekEventTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """Fires at every open, reminder and deadline moment, from the working-day calendar."""

    __slots__ = ("_calendar", "_rules")

    def __init__(self, calendar: WorkCalendar, rules: ScheduleRules) -> None:
        self._calendar = calendar
        self._rules = rules

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time or (now - timedelta(microseconds=1))
        return self.next_event(after)

    def next_event(self, after: datetime) -> datetime | None:
        """The first planned moment strictly after `after`."""
        day = after.astimezone(self._rules.zone).date()
        for week in range(HORIZON_WEEKS):
            plan = plan_week(self._calendar, self._rules, day + timedelta(weeks=week))
            if plan is None:
                continue
            for moment in (plan.open_at, *plan.reminders, plan.deadline):
                if moment > after:
                    return moment
        return None

    def __str__(self) -> str:
        return "week events"
