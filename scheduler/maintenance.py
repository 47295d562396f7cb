"""Housekeeping apart from the week: deleting rows kept only for a while, in small batches.

Run by `zhoubao run` every hour, as a job of its own: a prune that fails is logged and tried
again at the next run, and never touches the weekly jobs.

- The ledger of processed updates: redelivered updates only come within hours (Telegram keeps
  an update for a day), so rows older than the retention period (90 days by default) guard
  nothing. The scheduler's job claims (channel "scheduler") are kept whatever their age: a
  handful a week, and each one is what keeps its job from running twice.
- Outbox messages sent or given up on before the retention period. Queued ones stay.
- The guards of strangers silent since then (and not locked out).

Items, their revisions, drafts, members and invites are never deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.jobs import JOB_LEDGER
from storage.repositories import retention

logger = logging.getLogger(__name__)

PRUNE_BATCH: Final = 500  # rows per transaction: the write lock is held for milliseconds
MAX_BATCHES: Final = 200  # per table and run; what is left waits for the next run

Prune = Callable[[AsyncSession, datetime, datetime, int], Awaitable[int]]


async def _ledger(session: AsyncSession, before: datetime, now: datetime, limit: int) -> int:
    return await retention.prune_ledger(session, before, (JOB_LEDGER,), limit)


async def _outbox(session: AsyncSession, before: datetime, now: datetime, limit: int) -> int:
    return await retention.prune_outbox(session, before, limit)


async def _guards(session: AsyncSession, before: datetime, now: datetime, limit: int) -> int:
    return await retention.prune_guards(session, before, now, limit)


PRUNES: Final[tuple[tuple[str, Prune], ...]] = (
    ("processed_updates", _ledger),
    ("outbox", _outbox),
    ("chat_guards", _guards),
)


async def prune_old_rows(
    sessions: async_sessionmaker[AsyncSession],
    keep_for: timedelta,
    now: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_BATCHES,
) -> dict[str, int]:
    """Delete what is older than `keep_for`; return how many rows went, per table.

    Each batch is its own transaction, and each table is pruned on its own: one that fails is
    logged and the others are still pruned.
    """
    before = now - keep_for
    deleted: dict[str, int] = {}
    for table, prune in PRUNES:
        deleted[table] = 0
        try:
            for _ in range(max_batches):
                async with sessions() as session, session.begin():
                    count = await prune(session, before, now, batch)
                deleted[table] += count
                if count < batch:
                    break
                await asyncio.sleep(0)  # let the conversations in between batches
        except Exception:
            logger.exception(
                "prune failed; it is tried again at the next run", extra={"table": table}
            )
    if any(deleted.values()):
        logger.info("old rows pruned", extra={"deleted": deleted})
    return deleted
