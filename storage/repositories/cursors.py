"""Channel cursors (the Telegram getUpdates offset) and channel connection states."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelCursor, ChannelState
from storage.repositories._upsert import insert_for


async def get_cursor(session: AsyncSession, channel: str) -> str | None:
    row = await session.get(ChannelCursor, channel)
    return row.cursor if row is not None else None


async def set_cursor(session: AsyncSession, channel: str, cursor: str, now: datetime) -> None:
    stmt = insert_for(session, ChannelCursor).values(channel=channel, cursor=cursor, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel"],
        set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
    )
    await session.execute(stmt)


async def set_state(
    session: AsyncSession, channel: str, status: str, detail: str | None, now: datetime
) -> None:
    """Record a channel's connection state (written by the running service)."""
    stmt = insert_for(session, ChannelState).values(
        channel=channel, status=status, detail=detail, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel"],
        set_={
            "status": stmt.excluded.status,
            "detail": stmt.excluded.detail,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


# Built once: `zhoubao status` asks for it every time (see issues.py).
_STATES = select(ChannelState).order_by(ChannelState.channel)


async def states(session: AsyncSession) -> list[ChannelState]:
    result = await session.scalars(_STATES)
    return list(result.all())
