"""Conversation state per chat, and the ledger of processed updates."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationState, ProcessedUpdate
from storage.repositories._upsert import built_for


async def mark_processed(
    session: AsyncSession, channel: str, update_id: str, now: datetime
) -> bool:
    """Record the update as handled; False if it was handled before (a redelivery)."""
    return (channel, update_id) in await mark_processed_many(session, [(channel, update_id)], now)


def _build_ledger_insert(insert: Callable[..., Any]) -> Any:
    table = ProcessedUpdate.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["channel", "update_id"])
        .returning(table.c.channel, table.c.update_id)
    )


async def mark_processed_many(
    session: AsyncSession, updates: Iterable[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Record (channel, update_id) pairs in one statement; return those not seen before."""
    rows = [{"channel": c, "update_id": u, "processed_at": now} for c, u in dict.fromkeys(updates)]
    if not rows:
        return set()
    stmt = built_for(session, "ledger", _build_ledger_insert)
    result = await session.execute(stmt, rows)
    return {(channel, update_id) for channel, update_id in result.all()}


@dataclass(frozen=True, slots=True)
class StoredState:
    """A chat's saved step, as the engine reads it to continue the conversation."""

    state: str
    data: dict[str, Any]
    updated_at: datetime


_STATES = cast(Table, ConversationState.__table__)
# Rows, not mapped objects: a batch reads up to 256 of them and needs three columns.
_STATES_OF_CHATS = select(
    _STATES.c.channel,
    _STATES.c.chat_id,
    _STATES.c.user_id,
    _STATES.c.state,
    _STATES.c.data,
    _STATES.c.updated_at,
).where(_STATES.c.chat_id.in_(bindparam("chat_ids", expanding=True)))


async def load_states(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], StoredState]:
    """The states of several (channel, chat_id, user_id) chats, in one query."""
    if not keys:
        return {}
    wanted = set(keys)
    chat_ids = sorted({chat_id for _, chat_id, _ in wanted})
    result = await session.execute(_STATES_OF_CHATS, {"chat_ids": chat_ids})
    return {
        (channel, chat_id, user_id): StoredState(state, data, updated_at)
        for channel, chat_id, user_id, state, data, updated_at in result.all()
        if (channel, chat_id, user_id) in wanted
    }


async def load_state(
    session: AsyncSession, channel: str, chat_id: str, user_id: str
) -> ConversationState | None:
    result = await session.scalars(
        select(ConversationState).where(
            ConversationState.channel == channel,
            ConversationState.chat_id == chat_id,
            ConversationState.user_id == user_id,
        )
    )
    return result.first()


async def save_state(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    user_id: str,
    *,
    conversation: str,
    state: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    row = state_row(
        channel, chat_id, user_id, conversation=conversation, state=state, data=data, now=now
    )
    await save_states(session, [row])


def state_row(
    channel: str,
    chat_id: str,
    user_id: str,
    *,
    conversation: str,
    state: str,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The conversation_states row that saves a chat at `state`, for `save_states`."""
    return {
        "channel": channel,
        "chat_id": chat_id,
        "user_id": user_id,
        "conversation": conversation,
        "state": state,
        "data": data,
        "updated_at": now,
    }


def _build_state_upsert(insert: Callable[..., Any]) -> Any:
    stmt = insert(ConversationState.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["channel", "chat_id", "user_id"],
        set_={
            "conversation": stmt.excluded.conversation,
            "state": stmt.excluded.state,
            "data": stmt.excluded.data,
            "updated_at": stmt.excluded.updated_at,
        },
    )


async def save_states(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace conversation states (`state_row`s)."""
    if rows:
        await session.execute(built_for(session, "state_upsert", _build_state_upsert), rows)


async def delete_states(session: AsyncSession, keys: Sequence[tuple[str, str, str]]) -> None:
    """Delete the states of several (channel, chat_id, user_id) chats, in one statement."""
    if keys:
        await session.execute(
            delete(ConversationState).where(
                tuple_(
                    ConversationState.channel, ConversationState.chat_id, ConversationState.user_id
                ).in_(list(keys))
            )
        )


async def delete_state(session: AsyncSession, channel: str, chat_id: str, user_id: str) -> None:
    await session.execute(
        delete(ConversationState).where(
            ConversationState.channel == channel,
            ConversationState.chat_id == chat_id,
            ConversationState.user_id == user_id,
        )
    )
