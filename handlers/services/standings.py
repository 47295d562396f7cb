"""Where each window stands in an issue: submitted, no news this week, exempt or silent."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Issue, Window
from storage.repositories import submissions, windows


class WindowState(StrEnum):
    SUBMITTED = "submitted"
    NO_NEWS = "no_news"
    EXEMPT = "exempt"
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class WindowStanding:
    window: Window
    state: WindowState
    item_count: int


async def window_standings(session: AsyncSession, issue: Issue) -> list[WindowStanding]:
    """Every active window's state in the issue, in window order."""
    counts = await submissions.confirmed_counts(session, issue.id)
    reports = await submissions.window_reports(session, issue.id)
    standings = []
    for window in await windows.active_windows(session):
        count = counts.get(window.id, 0)
        report = reports.get(window.id)
        if count:
            state = WindowState.SUBMITTED
        elif report is not None and report.exempt:
            state = WindowState.EXEMPT
        elif report is not None and report.no_news:
            state = WindowState.NO_NEWS
        else:
            state = WindowState.SILENT
        standings.append(WindowStanding(window, state, count))
    return standings
