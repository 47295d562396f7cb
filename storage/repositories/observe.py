"""What the service's health and metrics endpoints read: cheap queries, none of them hot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lane, Lease, OutboxMessage, OutboxStatus


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """The queued messages of one channel and lane, and when the oldest of them was queued."""

    channel: str
    lane: str
    queued: int
    oldest_created_at: datetime | None


@dataclass(frozen=True, slots=True)
class LeaseView:
    holder: str
    expires_at: datetime
    epoch: int | None  # None while leases have no epoch


async def ping(session: AsyncSession) -> None:
    """One round trip to the database: raises when it cannot answer."""
    await session.execute(text("SELECT 1"))


async def queue_depths(session: AsyncSession) -> list[QueueDepth]:
    """Queued messages per channel and lane ("reply", "bulk").

    A range scan of the (status, …) index over the queued rows only: the sent history is
    never read, however long it is.
    """
    stmt = (
        select(
            OutboxMessage.channel,
            OutboxMessage.lane,
            func.count(),
            func.min(OutboxMessage.created_at),
        )
        .where(OutboxMessage.status == OutboxStatus.QUEUED)
        .group_by(OutboxMessage.channel, OutboxMessage.lane)
    )
    return [
        QueueDepth(str(channel), Lane(lane).name.lower(), int(count), oldest)
        for channel, lane, count, oldest in (await session.execute(stmt)).all()
    ]


async def lease(session: AsyncSession, name: str) -> LeaseView | None:
    """The lease `name` as stored (its holder may have let it expire)."""
    row = await session.get(Lease, name)
    if row is None:
        return None
    return LeaseView(row.holder, row.expires_at, None if row.epoch is None else int(row.epoch))
