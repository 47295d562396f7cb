"""A lease in the database: which process runs the scheduler and the outbox now."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, case, exists, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease
from storage.repositories._upsert import insert_for


async def acquire(
    session: AsyncSession, name: str, holder: str, now: datetime, expires_at: datetime
) -> int | None:
    """Take or renew the lease; its epoch if `holder` holds it until `expires_at`, else None.

    One UPDATE decides between competitors: it matches only when the lease is ours or has
    expired, and the database serialises concurrent UPDATEs of the row. The epoch stays while
    the holder renews a live lease and grows by one whenever the lease is taken anew (by
    another process, or by the same one after it expired): a message claimed under an older
    epoch belongs to a holder that may have stopped.
    """
    inserted = await session.execute(
        insert_for(session, Lease)
        .values(name=name, holder=holder, expires_at=expires_at, epoch=1)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if cast(CursorResult[Any], inserted).rowcount:
        return 1
    renewing = and_(Lease.holder == holder, Lease.expires_at > now)
    epoch = await session.scalar(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(
            holder=holder,
            expires_at=expires_at,
            epoch=case((renewing, Lease.epoch), else_=Lease.epoch + 1),
        )
        .returning(Lease.epoch)
    )
    return None if epoch is None else int(epoch)


def holds(name: str, holder: str, epoch: int, now: Any) -> ColumnElement[bool]:
    """SQL true while `holder` holds lease `name` at `epoch` and it has not expired at `now`."""
    return exists().where(
        Lease.name == name,
        Lease.holder == holder,
        Lease.epoch == epoch,
        Lease.expires_at > now,
    )


async def release(session: AsyncSession, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once (a clean shutdown), so another process need not wait."""
    await session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now)
    )
