"""The issue's status as the editor and `zhoubao status` read it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.services.draft_delivery import issue_line
from handlers.services.standings import WindowState, window_standings
from report.dates import format_moment, format_period
from storage.models import Issue
from storage.repositories import outbox


def period_of(issue: Issue) -> str:
    return format_period(issue.period_start, issue.period_end)


def state_line(issue: Issue, zone: ZoneInfo) -> str:
    """Open until when, closed since when, or published."""

    def shown(moment: datetime | None) -> str | None:
        return None if moment is None else format_moment(moment.astimezone(zone))

    return messages.issue_state(issue.status, shown(issue.deadline_at), shown(issue.closed_at))


async def status_text(session: AsyncSession, issue: Issue, zone: ZoneInfo) -> str:
    """The issue's state and which windows submitted, said 本周无动态, are exempt or silent
    (editor and CLI)."""
    standings = await window_standings(session, issue)

    def named(state: WindowState) -> list[str]:
        return [s.window.name for s in standings if s.state == state]

    text = messages.status_report(
        issue_line(issue),
        period_of(issue),
        named(WindowState.SUBMITTED),
        named(WindowState.NO_NEWS),
        named(WindowState.SILENT),
        sum(s.item_count for s in standings),
        named(WindowState.EXEMPT),
        state_line(issue, zone),
    )
    failed = await outbox.failed_count(session)
    return text + ("\n" + messages.sends_failed(failed) if failed else "")
