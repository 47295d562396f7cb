"""Channel cursors: e.g. the Telegram getUpdates offset to resume from after a restart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelCursor
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
