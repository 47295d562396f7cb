"""A lease in the database: which process runs the scheduler and the outbox now."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease
from storage.repositories._upsert import insert_for


async def acquire(
    session: AsyncSession, name: str, holder: str, now: datetime, expires_at: datetime
) -> bool:
    """Take or renew the lease; True if `holder` holds it until `expires_at`.

    One UPDATE decides between competitors: it matches only when the lease is ours or has
    expired, and the database serialises concurrent UPDATEs of the row.
    """
    inserted = await session.execute(
        insert_for(session, Lease)
        .values(name=name, holder=holder, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if cast(CursorResult[Any], inserted).rowcount:
        return True
    updated = await session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(holder=holder, expires_at=expires_at)
    )
    return bool(cast(CursorResult[Any], updated).rowcount)


async def release(session: AsyncSession, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once (a clean shutdown), so another process need not wait."""
    await session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now)
    )
