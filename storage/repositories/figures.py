"""Per-issue figures entered by the editor (statistics) and the inspector (verdicts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InspectionResult, StatisticFigure


async def save_statistics(
    session: AsyncSession,
    issue_id: int,
    figures: Mapping[str, tuple[int, int]],
    member_id: int | None,
    now: datetime,
) -> None:
    """Replace the issue's statistics with `figures` (category → (accepted, completed))."""
    await session.execute(delete(StatisticFigure).where(StatisticFigure.issue_id == issue_id))
    for category, (accepted, completed) in figures.items():
        session.add(
            StatisticFigure(
                issue_id=issue_id,
                category=category,
                accepted=accepted,
                completed=completed,
                entered_by=member_id,
                entered_at=now,
            )
        )
    await session.flush()


async def statistics(session: AsyncSession, issue_id: int) -> dict[str, tuple[int, int]]:
    result = await session.scalars(
        select(StatisticFigure).where(StatisticFigure.issue_id == issue_id)
    )
    return {row.category: (row.accepted, row.completed) for row in result.all()}


async def save_verdicts(
    session: AsyncSession,
    issue_id: int,
    verdicts: Mapping[str, str],
    member_id: int | None,
    now: datetime,
) -> None:
    """Replace the issue's inspection results with `verdicts` (criterion → text)."""
    await session.execute(delete(InspectionResult).where(InspectionResult.issue_id == issue_id))
    for criterion, verdict in verdicts.items():
        session.add(
            InspectionResult(
                issue_id=issue_id,
                criterion=criterion,
                verdict=verdict,
                entered_by=member_id,
                entered_at=now,
            )
        )
    await session.flush()


async def verdicts(session: AsyncSession, issue_id: int) -> dict[str, str]:
    result = await session.scalars(
        select(InspectionResult).where(InspectionResult.issue_id == issue_id)
    )
    return {row.criterion: row.verdict for row in result.all()}
