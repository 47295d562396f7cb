"""The outbox dispatcher: sends queued messages through their channel, with retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Channel
from bot.errors import ChannelError
from handlers.delivery import from_row
from handlers.types import ChannelKind
from storage.repositories import outbox

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones: 2 s, 4 s, 8 s … capped."""
    return min(BASE_BACKOFF * (1 << max(attempts - 1, 0)), MAX_BACKOFF)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[ChannelKind, Channel],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._clock = clock
        self._lock = asyncio.Lock()  # two drains at once would send a message twice

    async def drain(self, kind: ChannelKind, *, chat_id: str | None = None) -> int:
        """Send every due message of the channel (optionally one chat); return how many sent."""
        async with self._lock:
            return await self._drain(kind, chat_id)

    async def _drain(self, kind: ChannelKind, chat_id: str | None) -> int:
        channel = self._channels[kind]
        sent = 0
        while True:
            async with self._sessions() as session:
                rows = await outbox.due_messages(
                    session, kind.value, self._clock(), chat_id=chat_id, limit=50
                )
            if not rows:
                return sent
            for row in rows:
                key, message = from_row(row)
                try:
                    await channel.send(key, message)
                except ChannelError as error:
                    await self._failed(row.id, row.attempts + 1, error)
                    continue
                async with self._sessions() as session, session.begin():
                    await outbox.mark_sent(session, row.id, self._clock())
                sent += 1
            # Failed rows are now failed or scheduled later, so the loop ends.

    async def _failed(self, message_id: int, attempts: int, error: ChannelError) -> None:
        detail = str(error)
        async with self._sessions() as session, session.begin():
            if error.retry_after is None or attempts >= MAX_ATTEMPTS:
                logger.warning("message failed", extra={"message_id": message_id})
                await outbox.mark_failed(session, message_id, detail)
                return
            delay = max(timedelta(seconds=error.retry_after), backoff(attempts))
            await outbox.mark_retry(session, message_id, detail, self._clock() + delay)
