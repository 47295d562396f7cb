"""The weekly jobs as plain async functions; APScheduler (or the CLI) only decides when."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.prompts import PromptKind, prompt_windows
from scheduler.calendar import WorkCalendar
from scheduler.numbering import next_numbers
from storage.models import Issue
from storage.repositories import issues

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NumberingDefaults:
    """Numbers for the very first issue, from the configuration."""

    year: int
    next_number: int
    next_total: int


@dataclass(frozen=True, slots=True)
class OpenedIssue:
    issue: Issue
    created: bool  # False: the week's issue was open already
    windows_prompted: int  # windows with bound staff that were sent the prompt


class NoWorkingDays(Exception):
    """The week has no working day, so it gets no issue."""


class IssueNumberTaken(Exception):
    """Another issue already has that number or total number."""


async def open_issue(
    session: AsyncSession,
    calendar: WorkCalendar,
    day: date,
    defaults: NumberingDefaults,
    now: datetime,
    *,
    number: int | None = None,
    total_number: int | None = None,
) -> OpenedIssue:
    """Open the issue for the week of `day` and prompt every window with staff.

    Running it again for the same week returns the existing issue and sends nothing
    new: prompts are deduplicated per issue and member.
    """
    period = calendar.period_for(day)
    if period is None:
        raise NoWorkingDays(day.isoformat())
    existing = await issues.issue_for_period(session, period.start)
    if existing is not None:
        return OpenedIssue(existing, created=False, windows_prompted=0)
    # An issue is numbered in the year it is published, i.e. when its period ends.
    year = period.end.year
    last = await issues.last_issue(session)
    if last is None:
        auto_number = defaults.next_number if defaults.year == year else 1
        auto_total = defaults.next_total
    else:
        auto_number, auto_total = next_numbers((last.year, last.number, last.total_number), year)
    number = number or auto_number
    total_number = total_number or auto_total
    if await issues.numbers_taken(session, year, number, total_number):
        raise IssueNumberTaken(f"{year}-{number}/{total_number}")
    issue = await issues.create_issue(
        session,
        year=year,
        number=number,
        total_number=total_number,
        period_start=period.start,
        period_end=period.end,
        now=now,
    )
    prompted = await prompt_windows(session, issue, PromptKind.OPEN, now)
    logger.info("issue opened", extra={"issue_id": issue.id, "period_start": str(period.start)})
    return OpenedIssue(issue, created=True, windows_prompted=prompted)
