"""Pacing outgoing messages to a channel's published limits."""

from __future__ import annotations

import asyncio
import time
from asyncio import Lock
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
# A send released this much after its slot still keeps the planned pace: some 29.5 ms between
# two sends at 29 a second is still at most 30 in any second (the 429 limit).
# WeCom: message/send drops sends beyond 30 a minute to one member *without an error*, so each
# member gets one message (one part) every 2.1 s at most (under 29 a minute); in all, 20 a second
# stays well under the application's per-minute API limit.
WECOM_LIMITS = Limits(per_second=20.0, per_chat_interval=2.1)
# DingTalk: 20 calls a second per application and API (附录B); a person DingTalk throttles is
# reported in flowControlledStaffIdList and backed off by the outbox.
DINGTALK_LIMITS = Limits(per_second=15.0, per_chat_interval=0.2)
LATE_SLACK = 0.005
UNLIMITED = Limits(per_second=float("inf"), per_chat_interval=0.0)


class RateLimiter:
    """Spaces sends evenly at the total rate, and keeps each chat to its own interval."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._next_slot = 0.0
        self._chat_ready: dict[str, float] = {}
        self._recent: deque[tuple[float, str]] = deque()  # (ready, chat), in slot order
        self._gate = Lock()  # one acquirer at a time, in arrival order

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
        """Wait for the next free slot (total and per-chat), then take it.

        Sends in flight acquire one after another (first come, first served). The next slot
        is counted from when this one really went: a send released late (the event loop was
        busy) pushes the later ones back instead of letting them follow it closely, which
        with several sends in flight would reach the channel bunched, over its limit.
        """
        async with self._gate:
            now = self._clock()
            start = max(now, self._next_slot, self._chat_ready.get(chat_id, 0.0))
            if start > now:
                await asyncio.sleep(start - now)
            went = max(self._clock(), start)
            if self._limits.per_second != float("inf"):
                interval = 1.0 / self._limits.per_second
                # Up to LATE_SLACK late keeps the planned pace (no drift from scheduling
                # noise); later than that, the next slot moves with it, minus the slack.
                slack = min(LATE_SLACK, interval / 4)
                planned = start + interval
                self._next_slot = max(self._next_slot, planned, went + interval - slack)
            self._chat_ready[chat_id] = went + self._limits.per_chat_interval
            if self._limits.per_chat_interval > 0:
                self._recent.append((self._chat_ready[chat_id], chat_id))
            if len(self._chat_ready) > 10_000:
                self._forget_idle_chats()

    def _forget_idle_chats(self) -> None:
        now = self._clock()
        self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
