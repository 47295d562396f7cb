"""Chat guards: what is kept of chats no member uses, as counters rather than rows per message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatGuard
from storage.repositories._upsert import built_for


@dataclass(slots=True)
class GuardRecord:
    """One chat's guard, read for a batch, changed by its steps and written back at once."""

    channel: str
    chat_id: str
    messages: int
    first_seen_at: datetime
    last_seen_at: datetime
    answered_at: datetime | None = None
    wrong_codes: int = 0
    wrong_since: datetime | None = None
    locked_until: datetime | None = None

    @classmethod
    def new(cls, channel: str, chat_id: str, now: datetime) -> GuardRecord:
        return cls(channel, chat_id, 0, now, now)


_GUARDS = cast(Table, ChatGuard.__table__)
# Both key columns constrained, so that the primary key's index finds the rows however many
# strangers there are.
_GUARDS_OF_CHATS = select(_GUARDS).where(
    _GUARDS.c.channel.in_(bindparam("channels", expanding=True)),
    _GUARDS.c.chat_id.in_(bindparam("chat_ids", expanding=True)),
)


async def load_guards(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], GuardRecord]:
    """The stored guards of several (channel, chat_id) chats, in one query."""
    wanted = set(keys)
    if not wanted:
        return {}
    channels = sorted({channel for channel, _ in wanted})
    chat_ids = sorted({chat_id for _, chat_id in wanted})
    result = await session.execute(_GUARDS_OF_CHATS, {"channels": channels, "chat_ids": chat_ids})
    found: dict[tuple[str, str], GuardRecord] = {}
    for row in result.mappings():
        key = (row["channel"], row["chat_id"])
        if key in wanted:
            found[key] = GuardRecord(**dict(row))
    return found


def _build_guard_upsert(insert: Callable[..., Any]) -> Any:
    stmt = insert(_GUARDS)
    changing = (
        "messages",
        "last_seen_at",
        "answered_at",
        "wrong_codes",
        "wrong_since",
        "locked_until",
    )
    return stmt.on_conflict_do_update(
        index_elements=["channel", "chat_id"],
        set_={name: getattr(stmt.excluded, name) for name in changing},
    )


async def save_guards(session: AsyncSession, guards: Iterable[GuardRecord]) -> None:
    """Insert or replace guards, in one statement."""
    rows = [asdict(guard) for guard in guards]
    if rows:
        await session.execute(built_for(session, "guard_upsert", _build_guard_upsert), rows)


async def get_guard(session: AsyncSession, channel: str, chat_id: str) -> GuardRecord | None:
    return (await load_guards(session, [(channel, chat_id)])).get((channel, chat_id))
