"""Conversation state per chat, and the ledger of processed updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationState, ProcessedUpdate
from storage.repositories._upsert import insert_for


async def mark_processed(
    session: AsyncSession, channel: str, update_id: str, now: datetime
) -> bool:
    """Record the update as handled; False if it was handled before (a redelivery)."""
    stmt = (
        insert_for(session, ProcessedUpdate)
        .values(channel=channel, update_id=update_id, processed_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "update_id"])
    )
    result = await session.execute(stmt)
    return bool(cast(CursorResult[Any], result).rowcount)


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
    stmt = insert_for(session, ConversationState).values(
        channel=channel,
        chat_id=chat_id,
        user_id=user_id,
        conversation=conversation,
        state=state,
        data=data,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel", "chat_id", "user_id"],
        set_={
            "conversation": stmt.excluded.conversation,
            "state": stmt.excluded.state,
            "data": stmt.excluded.data,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def delete_state(session: AsyncSession, channel: str, chat_id: str, user_id: str) -> None:
    await session.execute(
        delete(ConversationState).where(
            ConversationState.channel == channel,
            ConversationState.chat_id == chat_id,
            ConversationState.user_id == user_id,
        )
    )
