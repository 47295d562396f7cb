"""The outbox dispatcher: sends queued messages through their channel, with retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Channel
from bot.errors import ChannelError
from bot.metrics import Metrics
from bot.ratelimit import UNLIMITED, Limits, RateLimiter
from handlers.delivery import from_row
from handlers.types import ChannelKind
from handlers.undeliverable import report_undeliverable
from storage.models import OutboxMessage
from storage.repositories import outbox

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones: 2 s, 4 s, 8 s … capped."""
    return min(BASE_BACKOFF * (1 << max(attempts - 1, 0)), MAX_BACKOFF)


class Dispatcher:
    """Sends the outbox: oldest first, in order per chat, paced, retried, never twice."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[ChannelKind, Channel],
        clock: Callable[[], datetime],
        limits: Mapping[ChannelKind, Limits] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        report_failure: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._clock = clock
        self._limiters = {
            kind: RateLimiter((limits or {}).get(kind, UNLIMITED)) for kind in channels
        }
        self._max_attempts = max_attempts
        # Tell the editors about a message given up on (the runtime's dispatcher does).
        self._report_failure = report_failure
        self._lock = asyncio.Lock()  # two drains at once would send a message twice
        self.metrics = metrics if metrics is not None else Metrics()

    async def drain(self, kind: ChannelKind, *, chat_id: str | None = None) -> int:
        """Send every due message of the channel (optionally one chat); return how many sent."""
        async with self._lock:
            return await self._drain(kind, chat_id)

    async def _drain(self, kind: ChannelKind, chat_id: str | None) -> int:
        channel = self._channels[kind]
        limiter = self._limiters[kind]
        sent = 0
        while True:
            async with self._sessions() as session:
                rows = await outbox.due_messages(
                    session, kind.value, self._clock(), chat_id=chat_id, limit=200
                )
            if not rows:
                return sent
            held: set[str] = set()  # chats to leave for now: their order must hold
            waits: list[float] = []
            progressed = False
            for row in rows:
                if row.chat_id in held:
                    continue
                wait = limiter.chat_wait(row.chat_id)
                if wait > 0:
                    held.add(row.chat_id)
                    waits.append(wait)
                    continue
                await limiter.acquire(row.chat_id)
                key, message = from_row(row)
                try:
                    await channel.send(key, message)
                except ChannelError as error:
                    if await self._failed(row, error, limiter):
                        held.add(row.chat_id)  # its later messages wait for the retry
                    continue
                except Exception as error:  # a bug in an adapter must not stop the outbox
                    logger.exception("channel send crashed", extra={"message_id": row.id})
                    if await self._failed(row, ChannelError(repr(error), retry_after=0), limiter):
                        held.add(row.chat_id)
                    continue
                async with self._sessions() as session, session.begin():
                    await outbox.mark_sent(session, row.id, self._clock())
                self.metrics.count_sent(kind.value)  # metrics: sent
                sent += 1
                progressed = True
            if not progressed:
                if not waits:
                    return sent  # what is left is scheduled for later
                await asyncio.sleep(min(waits))

    async def _failed(self, row: OutboxMessage, error: ChannelError, limiter: RateLimiter) -> bool:
        """Mark the message failed or scheduled for a retry; True when it will be retried."""
        attempts = row.attempts + 1
        detail = str(error)
        async with self._sessions() as session, session.begin():
            if error.retry_after is None or attempts >= self._max_attempts:
                logger.warning("message failed", extra={"message_id": row.id, "attempts": attempts})
                await outbox.mark_failed(session, row.id, detail)
                self.metrics.count_failed(row.channel)  # metrics: given up
                if self._report_failure:
                    await report_undeliverable(
                        session, row.channel, row.chat_id, row.user_id, self._clock()
                    )
                return False
            if error.retry_after > 0:
                # The channel said how long to wait (Telegram's 429): the whole channel waits.
                delay = timedelta(seconds=error.retry_after)
                limiter.pause(error.retry_after)
                self.metrics.count_rate_limited(row.channel)  # metrics: 429
            else:
                delay = backoff(attempts)
                self.metrics.count_retried(row.channel)  # metrics: transient failure
            until = self._clock() + delay
            logger.info("message retry", extra={"message_id": row.id, "attempts": attempts})
            await outbox.mark_retry(session, row.id, detail, until)
            await outbox.defer_chat(session, row.channel, row.chat_id, row.id, until)
        return True
