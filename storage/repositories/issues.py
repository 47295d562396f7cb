"""Issues of the bulletin and their lifecycle."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Issue, IssueStatus

# Built once: building a statement costs more than running it on SQLite.
_NEWEST_OPEN = (
    select(Issue)
    .where(Issue.status == IssueStatus.OPEN)
    .order_by(Issue.period_start.desc())
    .limit(1)
)
_NEWEST = select(Issue).order_by(Issue.total_number.desc()).limit(1)


async def current_issue(session: AsyncSession) -> Issue | None:
    """Return the newest open issue, or else the newest issue of all."""
    issue = await session.scalar(_NEWEST_OPEN)
    if issue is not None:
        return issue
    return await last_issue(session)


async def last_issue(session: AsyncSession) -> Issue | None:
    return await session.scalar(_NEWEST)


async def issue_for_period(session: AsyncSession, period_start: date) -> Issue | None:
    result = await session.scalars(select(Issue).where(Issue.period_start == period_start))
    return result.first()


async def create_issue(
    session: AsyncSession,
    *,
    year: int,
    number: int,
    total_number: int,
    period_start: date,
    period_end: date,
    now: datetime,
) -> Issue:
    issue = Issue(
        year=year,
        number=number,
        total_number=total_number,
        period_start=period_start,
        period_end=period_end,
        status=IssueStatus.OPEN,
        opened_at=now,
    )
    session.add(issue)
    await session.flush()
    return issue


async def close_issue(session: AsyncSession, issue: Issue, now: datetime) -> None:
    issue.status = IssueStatus.CLOSED
    issue.closed_at = now
    await session.flush()


async def numbers_taken(
    session: AsyncSession,
    year: int,
    number: int,
    total_number: int,
    *,
    excluding: int | None = None,
) -> bool:
    """True if another issue already has this year and number, or this total number."""
    stmt = select(Issue.id).where(
        ((Issue.year == year) & (Issue.number == number)) | (Issue.total_number == total_number)
    )
    if excluding is not None:
        stmt = stmt.where(Issue.id != excluding)
    return (await session.scalars(stmt)).first() is not None


async def set_deadline(session: AsyncSession, issue: Issue, deadline: datetime) -> None:
    """Move the issue's deadline; a closed issue opens again until then."""
    issue.deadline_at = deadline
    if issue.status == IssueStatus.CLOSED:
        issue.status = IssueStatus.OPEN
        issue.closed_at = None
    await session.flush()
