"""Pacing outgoing messages to a channel's published limits."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """At most `per_second` messages a second in all, and one per `per_chat_interval` to a chat.

    Telegram publishes about 30 a second in all and one a second per chat.
    """

    per_second: float
    per_chat_interval: float

    def scaled(self, factor: float) -> Limits:
        """The same limits `factor` times faster (to keep a test or benchmark short)."""
        return Limits(self.per_second * factor, self.per_chat_interval / factor)


TELEGRAM_PUBLISHED = Limits(per_second=30.0, per_chat_interval=1.0)
# Paced a little below the published limits: sends spaced exactly 1/30 s apart arrive with a few
# milliseconds of jitter, and a strict server then sees 31 in one second and answers 429 (each
# costing the whole channel a pause). The fan-out benchmark measured 105 such 429s over 4,000
# prompts at 30/s and none at 29/s, at 3 % over the bound.
TELEGRAM_LIMITS = Limits(per_second=29.0, per_chat_interval=1.05)
UNLIMITED = Limits(per_second=float("inf"), per_chat_interval=0.0)


class RateLimiter:
    """Spaces sends evenly at the total rate, and keeps each chat to its own interval."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._next_slot = 0.0
        self._chat_ready: dict[str, float] = {}
        self._recent: deque[tuple[float, str]] = deque()  # (ready, chat), in slot order

    def chat_wait(self, chat_id: str) -> float:
        """Seconds until `chat_id` may receive another message (0 when it may now)."""
        return max(0.0, self._chat_ready.get(chat_id, 0.0) - self._clock())

    def paced_chats(self) -> list[str]:
        """The chats that may not receive another message yet (their interval runs)."""
        now = self._clock()
        while self._recent and self._recent[0][0] <= now:
            self._recent.popleft()
        return [chat for ready, chat in self._recent if self._chat_ready.get(chat) == ready]

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the channel asked us to slow down)."""
        self._next_slot = max(self._next_slot, self._clock() + seconds)

    async def acquire(self, chat_id: str) -> None:
        """Wait for the next free slot (total and per-chat), then take it."""
        now = self._clock()
        start = max(now, self._next_slot, self._chat_ready.get(chat_id, 0.0))
        if self._limits.per_second != float("inf"):
            self._next_slot = start + 1.0 / self._limits.per_second
        self._chat_ready[chat_id] = start + self._limits.per_chat_interval
        if self._limits.per_chat_interval > 0:
            self._recent.append((self._chat_ready[chat_id], chat_id))
        if start > now:
            await asyncio.sleep(start - now)
        if len(self._chat_ready) > 10_000:
            self._forget_idle_chats()

    def _forget_idle_chats(self) -> None:
        now = self._clock()
        self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
