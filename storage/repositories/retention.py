"""Deleting what is only kept for a while: the ledger, sent messages, quiet strangers.

Each function deletes at most `limit` rows, the oldest first by an index, so that the caller
can commit between batches and never hold the database's write lock for long. Items, their
revisions, drafts and members are never deleted here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatGuard, OutboxMessage, OutboxStatus, ProcessedUpdate


def _count(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def prune_ledger(
    session: AsyncSession, before: datetime, keep_channels: Collection[str], limit: int
) -> int:
    """Delete up to `limit` ledger rows processed before `before`; return how many.

    Rows of `keep_channels` stay whatever their age (the scheduler's job claims).
    """
    oldest = (
        select(ProcessedUpdate.channel, ProcessedUpdate.update_id)
        .where(ProcessedUpdate.processed_at < before)
        .where(ProcessedUpdate.channel.not_in(list(keep_channels)))
        .order_by(ProcessedUpdate.processed_at)
        .limit(limit)
    )
    result = await session.execute(
        delete(ProcessedUpdate)
        .where(tuple_(ProcessedUpdate.channel, ProcessedUpdate.update_id).in_(oldest))
        .execution_options(synchronize_session=False)
    )
    return _count(result)


async def prune_outbox(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` sent or failed messages last attempted before `before`.

    Queued messages are never deleted. A message's last attempt (`next_attempt_at`, the time
    it was last due) is at most its sending time, and the (status, next_attempt_at) index finds
    them without reading the rest.
    """
    oldest = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.FAILED]))
        .where(OutboxMessage.next_attempt_at < before)
        .limit(limit)
    )
    result = await session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.id.in_(oldest))
        .execution_options(synchronize_session=False)
    )
    return _count(result)


async def prune_guards(session: AsyncSession, before: datetime, now: datetime, limit: int) -> int:
    """Delete up to `limit` guards of chats silent since `before` and not locked out now."""
    oldest = (
        select(ChatGuard.channel, ChatGuard.chat_id)
        .where(ChatGuard.last_seen_at < before)
        .where(or_(ChatGuard.locked_until.is_(None), ChatGuard.locked_until <= now))
        .order_by(ChatGuard.last_seen_at)
        .limit(limit)
    )
    result = await session.execute(
        delete(ChatGuard)
        .where(tuple_(ChatGuard.channel, ChatGuard.chat_id).in_(oldest))
        .execution_options(synchronize_session=False)
    )
    return _count(result)
