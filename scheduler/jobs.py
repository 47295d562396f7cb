"""The weekly jobs as plain async functions; APScheduler (or the CLI) only decides when."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import messages
from handlers.registry import STAFF_MENU
from handlers.services.draft_delivery import draft_or_refusal, notify_editors, queue_draft
from handlers.services.issue_draft import Typesetter, docx_only
from handlers.services.prompts import PromptKind, prompt_windows
from handlers.types import Outgoing
from report.bulletin import BulletinTemplate
from report.dates import format_period
from scheduler.calendar import WorkCalendar
from scheduler.numbering import DerivedNumbers, NumberingDefaults, derive_numbers
from scheduler.plan import ScheduleRules, WeekPlan, plan_week, plans_around, upcoming_plan
from storage.errors import is_unreachable
from storage.models import Issue, IssueStatus
from storage.repositories import conversations, issues

logger = logging.getLogger(__name__)

__all__ = ["NumberingDefaults"]  # re-exported: the configuration's numbers reach jobs here

JOB_LEDGER = "scheduler"  # jobs done are recorded in the update ledger under this channel


@dataclass(frozen=True, slots=True)
class OpenedIssue:
    issue: Issue
    created: bool  # False: the week's issue was open already
    windows_prompted: int  # windows with bound staff that were sent the prompt
    numbers: DerivedNumbers | None = None  # how a new issue's numbers were derived
    prompt_at: datetime | None = None  # the prompt waits until then (the week has not begun)


class NoWorkingDays(Exception):
    """The week has no working day, so it gets no issue."""


class IssueNumberTaken(Exception):
    """Another issue already has that number or total number."""


class DeadlinePassed(Exception):
    """The week asked for is over: opening it needs the caller to say so explicitly."""

    def __init__(self, plan: WeekPlan) -> None:
        super().__init__(plan.period.start.isoformat())
        self.plan = plan


def _last_numbers(last: Issue | None) -> tuple[int, int, int] | None:
    return None if last is None else (last.year, last.number, last.total_number)


async def _once(session: AsyncSession, job: str, now: datetime) -> bool:
    """True the first time `job` is claimed; the claim commits with the job's own work."""
    return await conversations.mark_processed(session, JOB_LEDGER, job, now)


def _prompt_job(issue: Issue) -> str:
    return f"prompt:{issue.id}"


async def open_issue(
    session: AsyncSession,
    calendar: WorkCalendar,
    day: date,
    defaults: NumberingDefaults | None,
    now: datetime,
    *,
    number: int | None = None,
    total_number: int | None = None,
    deadline: datetime | None = None,
    prompt_at: datetime | None = None,
) -> OpenedIssue:
    """Open the issue for the week of `day` and prompt every window with staff.

    With `prompt_at` still ahead, the issue is opened now but the windows are prompted then
    (by `run_due_jobs`). Running it again for the same week returns the existing issue and
    sends nothing new: the prompt is claimed once per issue in the ledger.
    """
    period = calendar.period_for(day)
    if period is None:
        raise NoWorkingDays(day.isoformat())
    existing = await issues.issue_for_period(session, period.start)
    if existing is not None:
        return OpenedIssue(existing, created=False, windows_prompted=0)
    # An issue is numbered in the year it is published, i.e. when its period ends.
    derived = derive_numbers(
        _last_numbers(await issues.last_issue(session)), defaults, period.end.year
    )
    number = number or derived.number
    total_number = total_number or derived.total
    if await issues.numbers_taken(session, derived.year, number, total_number):
        raise IssueNumberTaken(f"{derived.year}-{number}/{total_number}")
    issue = await issues.create_issue(
        session,
        year=derived.year,
        number=number,
        total_number=total_number,
        period_start=period.start,
        period_end=period.end,
        now=now,
    )
    issue.deadline_at = deadline
    logger.info("issue opened", extra={"issue_id": issue.id, "period_start": str(period.start)})
    if prompt_at is not None and now < prompt_at:
        return OpenedIssue(issue, True, 0, derived, prompt_at)
    await _once(session, _prompt_job(issue), now)
    prompted = await prompt_windows(session, issue, PromptKind.OPEN, now, menu=STAFF_MENU)
    return OpenedIssue(issue, True, prompted, derived)


def week_to_open(settings: WeekSettings, now: datetime, day: date | None = None) -> WeekPlan:
    """The week `zhoubao issue open` means: `day`'s, or the first whose deadline is ahead.

    NoWorkingDays if that week has none; DeadlinePassed if `day`'s week is already over
    (the caller decides whether the administrator asked for that explicitly).
    """
    if day is None:
        plan = upcoming_plan(settings.calendar, settings.rules, now)
        if plan is None:
            raise NoWorkingDays(now.astimezone(settings.rules.zone).date().isoformat())
        return plan
    plan = plan_week(settings.calendar, settings.rules, day)
    if plan is None:
        raise NoWorkingDays(day.isoformat())
    if plan.deadline <= now:
        raise DeadlinePassed(plan)
    return plan


async def open_week(
    session: AsyncSession,
    settings: WeekSettings,
    plan: WeekPlan,
    now: datetime,
    *,
    number: int | None = None,
    total_number: int | None = None,
) -> OpenedIssue:
    """Open `plan`'s issue with its deadline; its windows are prompted at its opening time."""
    return await open_issue(
        session,
        settings.calendar,
        plan.period.start,
        settings.numbering,
        now,
        number=number,
        total_number=total_number,
        deadline=plan.deadline,
        prompt_at=plan.open_at,
    )


@dataclass(frozen=True, slots=True)
class NextIssue:
    """The issue that would open next, before any exists (`zhoubao status`, `zhoubao run`)."""

    plan: WeekPlan
    numbers: DerivedNumbers


async def next_issue(
    session: AsyncSession, settings: WeekSettings, now: datetime
) -> NextIssue | None:
    """What the first issue will be and when, or None if no week ahead has a working day."""
    plan = upcoming_plan(settings.calendar, settings.rules, now)
    if plan is None:
        return None
    last = _last_numbers(await issues.last_issue(session))
    return NextIssue(plan, derive_numbers(last, settings.numbering, plan.period.end.year))


# --- the automatic week ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeekSettings:
    """Everything the weekly jobs need, passed in by `bot`."""

    calendar: WorkCalendar
    rules: ScheduleRules
    numbering: NumberingDefaults | None  # None: the first issue is its year's 第1期（总第1期）
    template: BulletinTemplate
    typeset: Typesetter = docx_only  # the draft's .docx and PDF, as the editors get it


async def run_due_jobs(
    sessions: async_sessionmaker[AsyncSession], settings: WeekSettings, now: datetime
) -> list[str]:
    """Do whatever this week (and an unfinished last week) needs by `now`; return what was done.

    Called every half minute and at each planned moment, and again after downtime: every job
    is keyed in the ledger and commits together with its messages, so running it twice, from
    two processes, or after a crash queues nothing twice and misses nothing. On a new install
    (no issue yet) the first week whose deadline is still ahead is opened at once, and its
    windows are prompted at its opening time.

    Each job of each week runs in its own transaction: one that fails is rolled back, logged,
    reported once to the editors and tried again at the next call, and every other job and
    week goes on (a broken deadline never keeps next week's issue from opening).
    """
    plans = plans_around(settings.calendar, settings.rules, now)
    upcoming = upcoming_plan(settings.calendar, settings.rules, now)
    if upcoming is not None and upcoming not in plans:
        plans.append(upcoming)
    done: list[str] = []
    for plan in plans:
        for job in WEEK_JOBS:
            try:
                async with sessions() as session, session.begin():
                    done += await job(session, settings, plan, now)
            except Exception as error:  # one failing job must not stop the others
                if is_unreachable(error):
                    raise  # the database is down: every job waits for it, the caller retries
                done.append(f"failed {job.__name__.strip('_')} {plan.period.start}")
                await _report_failure(sessions, job.__name__.strip("_"), plan, error, now)
    return done


async def _report_failure(
    sessions: async_sessionmaker[AsyncSession],
    job: str,
    plan: WeekPlan,
    error: Exception,
    now: datetime,
) -> None:
    """Log a failed job; the first time it fails for its week, tell the editors too."""
    key = f"failed:{job}:{plan.period.start}"
    try:
        async with sessions() as session, session.begin():
            first = await _once(session, key, now)
            if first:
                period = format_period(plan.period.start, plan.period.end)
                reason = f"{type(error).__name__}: {error}".splitlines()[0][:200]
                notice = Outgoing(messages.job_failed(job, period, reason))
                await notify_editors(session, notice, key, now)
    except Exception:
        first = True  # the database itself failed: say it in full below
    if first:
        logger.error(
            "weekly job failed; it is retried at the next tick",
            exc_info=error,
            extra={"job": job, "period_start": str(plan.period.start)},
        )
    else:
        logger.warning(
            "weekly job failed again: %s",
            f"{type(error).__name__}: {error}".splitlines()[0][:200],
            extra={"job": job, "period_start": str(plan.period.start)},
        )


async def _open(
    session: AsyncSession, settings: WeekSettings, plan: WeekPlan, now: datetime
) -> list[str]:
    """Open `plan`'s issue if it is time: at its opening, or at once on a new install."""
    if await issues.issue_for_period(session, plan.period.start) is not None:
        return []
    last = await issues.last_issue(session)
    if now >= plan.deadline:
        if last is None or last.period_start > plan.period.start:
            return []  # zhoubao was not running then (a new install): nothing was missed
        if await _once(session, f"skip:{plan.period.start}", now):
            logger.warning(
                "week skipped: its deadline passed before the issue was opened",
                extra={"period_start": str(plan.period.start)},
            )
            return [f"skip {plan.period.start}"]
        return []
    if now < plan.open_at and last is not None:
        return []  # an ordinary week: opened at its time
    opened = await open_week(session, settings, plan, now)
    return [f"open {opened.issue.period_start}"]


async def _open_issue_of(session: AsyncSession, plan: WeekPlan) -> Issue | None:
    issue = await issues.issue_for_period(session, plan.period.start)
    return issue if issue is not None and issue.status == IssueStatus.OPEN else None


async def _prompt(
    session: AsyncSession, settings: WeekSettings, plan: WeekPlan, now: datetime
) -> list[str]:
    """Prompt the windows once the week has begun (an issue opened ahead waits for it)."""
    issue = await _open_issue_of(session, plan)
    if issue is None or now < plan.open_at or not await _once(session, _prompt_job(issue), now):
        return []
    prompted = await prompt_windows(session, issue, PromptKind.OPEN, now, menu=STAFF_MENU)
    return [f"prompt {issue.period_start} {prompted}"]


async def _close(
    session: AsyncSession, settings: WeekSettings, plan: WeekPlan, now: datetime
) -> list[str]:
    """At the deadline: close intake and send the compiled draft to the editors."""
    issue = await _open_issue_of(session, plan)
    if issue is None:
        return []
    deadline = issue.deadline_at or plan.deadline
    if now < deadline:
        return []
    # Lay the draft out before the first write: on SQLite that write takes the database's write
    # lock, which every conversation turn waits for, and LibreOffice takes seconds.
    sent = await draft_or_refusal(
        session, issue, settings.template, now, settings.typeset, settings.calendar.is_workday
    )
    if not await _once(session, f"close:{issue.id}:{deadline.isoformat()}", now):
        return []
    await issues.close_issue(session, issue, now)
    await queue_draft(session, issue, sent, now, deadline.isoformat())
    logger.info("issue closed and draft delivered", extra={"issue_id": issue.id})
    return [f"close {issue.period_start}"]


async def _remind(
    session: AsyncSession, settings: WeekSettings, plan: WeekPlan, now: datetime
) -> list[str]:
    """Remind the silent windows at the planned moments before the deadline."""
    issue = await _open_issue_of(session, plan)
    if issue is None or now >= (issue.deadline_at or plan.deadline):
        return []
    # A reminder planned before the issue opened (it opened late) would only repeat the prompt.
    due = [moment for moment in plan.reminders if issue.opened_at < moment <= now]
    if not due:
        return []
    # After downtime only the latest reminder still makes sense; earlier ones are skipped.
    latest = due[-1].isoformat()
    if not await _once(session, f"remind:{issue.id}:{latest}", now):
        return []
    reached = await prompt_windows(
        session, issue, PromptKind.REMIND, now, label=latest, menu=STAFF_MENU
    )
    return [f"remind {latest} {reached}"]


WeekJob = Callable[[AsyncSession, WeekSettings, WeekPlan, datetime], Awaitable[list[str]]]
# In this order: an issue opened in this call is prompted in the same call when it is time.
WEEK_JOBS: tuple[WeekJob, ...] = (_open, _prompt, _close, _remind)
