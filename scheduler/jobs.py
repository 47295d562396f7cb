"""The weekly jobs as plain async functions; APScheduler (or the CLI) only decides when."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.drafts import deliver_draft
from handlers.prompts import PromptKind, prompt_windows
from report.bulletin import BulletinTemplate
from scheduler.calendar import WorkCalendar
from scheduler.numbering import next_numbers
from scheduler.plan import ScheduleRules, WeekPlan, plans_around
from storage.models import Issue, IssueStatus
from storage.repositories import conversations, issues

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
    deadline: datetime | None = None,
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
    issue.deadline_at = deadline
    prompted = await prompt_windows(session, issue, PromptKind.OPEN, now)
    logger.info("issue opened", extra={"issue_id": issue.id, "period_start": str(period.start)})
    return OpenedIssue(issue, created=True, windows_prompted=prompted)


# --- the automatic week ---------------------------------------------------------------------

JOB_LEDGER = "scheduler"  # jobs done are recorded in the update ledger under this channel


@dataclass(frozen=True, slots=True)
class WeekSettings:
    """Everything the weekly jobs need, passed in by `bot`."""

    calendar: WorkCalendar
    rules: ScheduleRules
    numbering: NumberingDefaults
    template: BulletinTemplate


async def _once(session: AsyncSession, job: str, now: datetime) -> bool:
    """True the first time `job` is claimed; the claim commits with the job's own work."""
    return await conversations.mark_processed(session, JOB_LEDGER, job, now)


async def run_due_jobs(
    sessions: async_sessionmaker[AsyncSession], settings: WeekSettings, now: datetime
) -> list[str]:
    """Do whatever this week (and an unfinished last week) needs by `now`; return what was done.

    Called every half minute and at each planned moment, and again after downtime: every job
    is keyed in the ledger and commits together with its messages, so running it twice, from
    two processes, or after a crash sends nothing twice and misses nothing.
    """
    done: list[str] = []
    for plan in plans_around(settings.calendar, settings.rules, now):
        async with sessions() as session, session.begin():
            done += await _run_week(session, settings, plan, now)
    return done


async def _run_week(
    session: AsyncSession, settings: WeekSettings, plan: WeekPlan, now: datetime
) -> list[str]:
    issue = await issues.issue_for_period(session, plan.period.start)
    if issue is None:
        if now < plan.open_at:
            return []
        if now >= plan.deadline:
            last = await issues.last_issue(session)
            if last is None or last.period_start > plan.period.start:
                return []  # zhoubao was not running then (a new install): nothing was missed
            if await _once(session, f"skip:{plan.period.start}", now):
                logger.warning(
                    "week skipped: its deadline passed before the issue was opened",
                    extra={"period_start": str(plan.period.start)},
                )
                return [f"skip {plan.period.start}"]
            return []
        opened = await open_issue(
            session,
            settings.calendar,
            plan.period.start,
            settings.numbering,
            now,
            deadline=plan.deadline,
        )
        return [f"open {opened.issue.period_start}"]
    if issue.status != IssueStatus.OPEN:
        return []
    deadline = issue.deadline_at or plan.deadline
    if now >= deadline:
        if not await _once(session, f"close:{issue.id}:{deadline.isoformat()}", now):
            return []
        await issues.close_issue(session, issue, now)
        await deliver_draft(session, issue, settings.template, now, deadline.isoformat())
        logger.info("issue closed and draft delivered", extra={"issue_id": issue.id})
        return [f"close {issue.period_start}"]
    # A reminder planned before the issue opened (it opened late) would only repeat the prompt.
    due = [moment for moment in plan.reminders if issue.opened_at < moment <= now]
    if not due:
        return []
    # After downtime only the latest reminder still makes sense; earlier ones are skipped.
    latest = due[-1].isoformat()
    if not await _once(session, f"remind:{issue.id}:{latest}", now):
        return []
    reached = await prompt_windows(session, issue, PromptKind.REMIND, now, label=latest)
    return [f"remind {latest} {reached}"]
