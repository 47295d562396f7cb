"""What the service's health and metrics endpoints read: cheap queries, none of them hot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease, OutboxMessage, OutboxStatus

NO_LANE = ""  # the label of every message while the outbox has no lanes


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


def _lane_column() -> Any:
    """The outbox's lane column once it exists, else None."""
    return OutboxMessage.__table__.c.get("lane")


async def queue_depths(session: AsyncSession) -> list[QueueDepth]:
    """Queued messages per channel (and lane, once the outbox has lanes).

    A range scan of the (status, …) index over the queued rows only: the sent history is
    never read, however long it is.
    """
    lane = _lane_column()
    columns: list[Any] = [OutboxMessage.channel]
    if lane is not None:
        columns.append(lane)
    stmt = (
        select(*columns, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status == OutboxStatus.QUEUED)
        .group_by(*columns)
    )
    depths = []
    for row in (await session.execute(stmt)).all():
        values = tuple(row)
        channel, count, oldest = values[0], values[-2], values[-1]
        lane_value = values[1] if lane is not None else NO_LANE
        depths.append(QueueDepth(str(channel), str(lane_value or NO_LANE), int(count), oldest))
    return depths


async def lease(session: AsyncSession, name: str) -> LeaseView | None:
    """The lease `name` as stored (its holder may have let it expire)."""
    row = await session.get(Lease, name)
    if row is None:
        return None
    epoch = getattr(row, "epoch", None)  # leases gain an epoch with the one-sender work
    return LeaseView(row.holder, row.expires_at, None if epoch is None else int(epoch))
