"""The outbox dispatcher: sends queued messages through their channel, with retries.

Per channel, each round:

1. **One sender.** The process checks that it still holds the lease (`Fence`); one that lost it
   or could not renew it claims nothing more and drops what it had fetched but not started.
2. **Fair selection.** It asks the database for the due head of each chat's queue (the chat's
   oldest queued reply, else its oldest queued message: lanes overtake each other, a lane's
   messages never do), replies first, then the oldest head (`outbox.next_heads`); of those,
   the chats served least in this drain first (round robin), skipping the chats in flight or
   paced by the channel's per-chat limit.
3. **Claim.** It claims what it picked in one UPDATE … WHERE status = 'queued' that also checks
   the lease's epoch in the database.
4. **In flight.** Up to `in_flight` sends at once, each to a different chat, each taking its slot
   from the channel's `RateLimiter` (the total and per-chat limits hold over both lanes). A
   message sent in parts records each part delivered, so a retry sends only what is missing.
5. **Mark sent in batches.** The sends that finished together are marked sent in one
   statement, in the transaction of the next pick (one commit for both); a chat's next
   message is picked only after its previous one is marked.

Delivery is at least once: a crash, or a lease lost while sends were on their way, repeats at
most the messages in flight at that moment (see docs/operations.md, Delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Channel, PartedChannel
from bot.errors import ChannelError
from bot.metrics import Metrics
from bot.ratelimit import UNLIMITED, Limits, RateLimiter
from handlers.services.delivery import from_row
from handlers.services.undeliverable import report_undeliverable
from handlers.types import ChannelKind
from storage.models import OutboxMessage
from storage.repositories import leases, outbox

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=10)

# Sends in flight per channel: ceil(rate × round trip p90) + IN_FLIGHT_MARGIN, within bounds.
INITIAL_ROUND_TRIP = 0.25  # seconds, until sends have been measured
ROUND_TRIPS_KEPT = 200  # the last sends' round trips the p90 is taken over
IN_FLIGHT_MARGIN = 2  # covers the jitter of the round trip and the slot a send waits for
MIN_IN_FLIGHT = 1
MAX_IN_FLIGHT = 32
UNPACED_IN_FLIGHT = 8  # a channel with no rate limit (the console, tests)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones: 2 s, 4 s, 8 s … capped."""
    return min(BASE_BACKOFF * (1 << max(attempts - 1, 0)), MAX_BACKOFF)


def in_flight_for(limits: Limits, round_trip: float) -> int:
    """Sends to keep in flight so that the rate, not the round trip, bounds a channel.

    By Little's law a channel sending `per_second` with each send taking `round_trip` has
    rate × round trip sends on their way; the margin absorbs jitter. More would only queue
    at the rate limiter, where a reply arriving later would wait behind them.
    """
    if math.isinf(limits.per_second):
        return UNPACED_IN_FLIGHT
    wanted = math.ceil(limits.per_second * max(round_trip, 0.0)) + IN_FLIGHT_MARGIN
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, wanted))


@dataclass
class Fence:
    """The lease a dispatcher sends under, as its process last renewed it.

    `epoch` is the lease's epoch (None while the process does not hold it); the process
    counts the lease as held until `valid_until` on its monotonic clock, a safety margin
    before the database would let another process take it. A process stopped (SIGSTOP) or
    cut off from the database past that moment claims and starts nothing more.
    """

    name: str
    holder: str
    epoch: int | None = None
    valid_until: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def held(self) -> int | None:
        """The epoch to send under now, or None when this process may not send."""
        if self.epoch is None or self.clock() >= self.valid_until:
            return None
        return self.epoch

    def renewed(self, epoch: int | None, started: float, lasts: float) -> None:
        """Record a renewal that began at `started` (monotonic) and holds for `lasts` s."""
        self.epoch = epoch
        self.valid_until = started + lasts if epoch is not None else 0.0

    def lost(self) -> None:
        self.epoch = None
        self.valid_until = 0.0


class _Dropped(Exception):
    """The lease was lost before the send began: the message goes back to the queue."""


@dataclass
class _ChannelState:
    limiter: RateLimiter
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    round_trips: deque[float] = field(default_factory=lambda: deque(maxlen=ROUND_TRIPS_KEPT))
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # something new was queued
    wire: asyncio.Condition = field(default_factory=asyncio.Condition)  # guards the two below
    on_wire: int = 0  # requests sent and not yet answered
    # Requests waiting for their turn on the wire, as (lane, ticket): a heap, so the turn goes
    # to replies first, then in the order the sends were started.
    turns: list[tuple[int, int]] = field(default_factory=list)
    tickets: itertools.count[int] = field(default_factory=itertools.count)


@dataclass
class _Result:
    row: OutboxMessage
    epoch: int
    delivered: bool = False
    dropped: bool = False


class Dispatcher:
    """Sends the outbox: replies first, every chat fairly, several sends in flight, once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[ChannelKind, Channel],
        clock: Callable[[], datetime],
        limits: Mapping[ChannelKind, Limits] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        report_failure: bool = False,
        *,
        fence: Fence | None = None,
        in_flight: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._clock = clock
        self._limits = {kind: (limits or {}).get(kind, UNLIMITED) for kind in channels}
        self._states = {kind: _ChannelState(RateLimiter(self._limits[kind])) for kind in channels}
        self._max_attempts = max_attempts
        # Tell the editors about a message given up on (the runtime's dispatcher does).
        self._report_failure = report_failure
        # Without a fence (the console, the demo, tests) this dispatcher is the only sender.
        self._fence = fence
        self._fixed_in_flight = in_flight
        self.metrics = metrics if metrics is not None else Metrics()

    def wake(self) -> None:
        """Something was queued: a drain waiting for its sends looks at the outbox now."""
        for state in self._states.values():
            state.wake.set()

    def in_flight(self, kind: ChannelKind) -> int:
        """How many sends this channel keeps in flight now (from its measured round trips)."""
        if self._fixed_in_flight is not None:
            return self._fixed_in_flight
        return in_flight_for(self._limits[kind], self._round_trip(kind))

    async def drain(self, kind: ChannelKind, *, chat_id: str | None = None) -> int:
        """Send every due message of the channel (optionally one chat); return how many sent."""
        state = self._states[kind]
        async with state.lock:
            return await self._drain(kind, state, chat_id)

    def _epoch(self) -> int | None:
        """The epoch this process sends under; 0 without a fence; None when it may not."""
        return 0 if self._fence is None else self._fence.held()

    async def _drain(self, kind: ChannelKind, state: _ChannelState, chat_id: str | None) -> int:
        flying: dict[str, asyncio.Task[_Result]] = {}  # chat → its one send in flight
        # Messages each chat has received in this drain: a chat served already goes after the
        # chats still waiting for their first (round robin), so a backlog takes no one's turn.
        served: Counter[str] = Counter()
        sent = 0
        # Delivered and not yet marked sent: marked in the transaction of the next pick (one
        # commit for both), or on their own when there is nothing to pick.
        unmarked: list[int] = []
        epoch = self._epoch()
        if epoch is not None:
            await self._recover(kind, epoch)
        try:
            while True:
                state.wake.clear()
                waits: list[float] = []
                epoch = self._epoch()  # the lease is checked again before every batch
                free = self.in_flight(kind) - len(flying)
                if epoch is not None and free > 0:
                    picked = await self._pick(
                        kind, state, epoch, free, flying, served, waits, chat_id, unmarked
                    )
                    unmarked = []
                    for row in picked:
                        flying[row.chat_id] = asyncio.create_task(
                            self._deliver(kind, state, row, epoch)
                        )
                elif unmarked:
                    await self._mark_sent(unmarked)
                    unmarked = []
                if not flying and (epoch is None or not waits):
                    return sent  # nothing due now (or no lease): the caller polls again
                results = await self._wait_for(state, flying, min(waits) if waits else None)
                delivered = await self._settle(results)
                unmarked += delivered
                sent += len(delivered)
                for result in results:
                    del flying[result.row.chat_id]
                    if result.delivered:
                        served[result.row.chat_id] += 1
        finally:
            # Cancelled or failed: the sends still on their way are stopped; their claims go
            # back to the queue at the next drain. What was delivered is recorded if it can be.
            for task in flying.values():
                task.cancel()
            await asyncio.gather(*flying.values(), return_exceptions=True)
            if unmarked:
                with contextlib.suppress(Exception):
                    await self._mark_sent(unmarked)

    async def _wait_for(
        self,
        state: _ChannelState,
        flying: Mapping[str, asyncio.Task[_Result]],
        wait: float | None,
    ) -> list[_Result]:
        """Wait until a send finishes, `wait` seconds pass or something new is queued.

        Returns the sends that have finished by then (together: they are marked together).
        """
        woken = asyncio.ensure_future(state.wake.wait())
        try:
            await asyncio.wait(
                {*flying.values(), woken}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
        await asyncio.sleep(0)  # sends finishing at the same moment are settled together
        return [task.result() for task in flying.values() if task.done()]

    async def _recover(self, kind: ChannelKind, epoch: int) -> None:
        """Return to the queue what is claimed but not in flight: a crash's or a lost lease's.

        At the start of a drain this process has nothing of the channel in flight, so every
        claim of this epoch or an earlier one is left over (the lease condition keeps a
        process that lost the lease from touching the new holder's claims).
        """
        async with self._sessions() as session:
            if not await outbox.has_claims(session, kind.value):
                return
        fence = self._fence
        async with self._sessions() as session, session.begin():
            stale = await outbox.requeue_claims(
                session,
                kind.value,
                None if fence is None else epoch,
                None
                if fence is None
                else leases.holds(fence.name, fence.holder, epoch, self._clock()),
            )
        if stale:
            logger.warning(
                "claims left unsent returned to the queue",
                extra={"channel": kind.value, "messages": stale, "epoch": epoch},
            )

    async def _pick(
        self,
        kind: ChannelKind,
        state: _ChannelState,
        epoch: int,
        free: int,
        flying: Mapping[str, object],
        served: Mapping[str, int],
        waits: list[float],
        chat_id: str | None,
        unmarked: list[int],
    ) -> list[OutboxMessage]:
        """Select and claim up to `free` heads of chats neither in flight nor paced.

        Of the heads the database offers (replies first, then the oldest), the chats served
        least in this drain go first; the database's order breaks ties. The database does not
        know who was served, so a few more heads are asked for than are free: up to
        `MAX_IN_FLIGHT` chats served already (a backlog) can be passed over in one pick.
        """
        paced = state.limiter.paced_chats()
        skip = len(flying) + len(paced) + min(len(served), MAX_IN_FLIGHT)
        async with self._sessions() as session, session.begin():
            if unmarked:  # a chat's next message is picked only once its previous is marked
                await outbox.mark_sent_many(session, unmarked, self._clock())
            heads = await outbox.next_heads(
                session, kind.value, self._clock(), free + skip, chat_id=chat_id
            )
            chosen: list[outbox.Head] = []
            ranked = sorted(heads, key=lambda head: (head.lane, served.get(head.chat_id, 0)))
            for head in ranked:
                if head.chat_id in flying:
                    continue
                wait = state.limiter.chat_wait(head.chat_id)
                if wait > 0:
                    waits.append(wait)
                    continue
                if len(chosen) < free:
                    chosen.append(head)
            if not chosen:
                return []
            fence = self._fence
            claimed = await outbox.claim(
                session,
                [head.id for head in chosen],
                epoch,
                None
                if fence is None
                else leases.holds(fence.name, fence.holder, epoch, self._clock()),
            )
        order = {head.id: n for n, head in enumerate(chosen)}
        return sorted(claimed, key=lambda row: order[row.id])  # the turns go in this order

    async def _deliver(
        self, kind: ChannelKind, state: _ChannelState, row: OutboxMessage, epoch: int
    ) -> _Result:
        """Send one claimed message (the parts still missing); record a failure."""
        channel = self._channels[kind]
        limiter = state.limiter
        key, message = from_row(row)
        try:
            if isinstance(channel, PartedChannel):
                count = channel.part_count(message)
                for index in range(row.parts_sent, count):
                    async with self._on_wire(kind, state, row, epoch):
                        await channel.send_part(key, message, index)
                    if index < count - 1:
                        row.parts_sent = index + 1
                        async with self._sessions() as session, session.begin():
                            await outbox.mark_parts(session, row.id, index + 1)
            else:
                async with self._on_wire(kind, state, row, epoch):
                    await channel.send(key, message)
        except _Dropped:
            return _Result(row, epoch, dropped=True)
        except ChannelError as error:
            await self._failed(row, error, limiter, epoch)
            return _Result(row, epoch)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug in an adapter must not stop the outbox
            logger.exception("channel send crashed", extra={"message_id": row.id})
            await self._failed(row, ChannelError(repr(error), retry_after=0), limiter, epoch)
            return _Result(row, epoch)
        return _Result(row, epoch, delivered=True)

    @contextlib.asynccontextmanager
    async def _on_wire(
        self, kind: ChannelKind, state: _ChannelState, row: OutboxMessage, epoch: int
    ) -> AsyncIterator[None]:
        """One request to the channel: its turn on the wire, its slot, its round trip timed.

        Requests on the wire at once are capped at ⌈rate × round trip⌉ (at least 1): as many
        as the rate needs, no more. On a fast link that is one at a time, so requests cannot
        reach the channel bunched (a late one followed at once by the next) and draw a 429;
        the sends in flight still overlap their database work with it. The turns go to
        replies first, then in the order the sends were started, so a reply picked with bulk
        messages in flight does not wait behind them. The lease is checked once the turn
        comes: a process that lost it drops the send.
        """
        turn = (row.lane, next(state.tickets))
        async with state.wire:
            heapq.heappush(state.turns, turn)
            try:
                await state.wire.wait_for(
                    lambda: state.turns[0] == turn and state.on_wire < self._wire_cap(kind)
                )
            finally:
                state.turns.remove(turn)  # the head, unless cancelled while waiting
                heapq.heapify(state.turns)
                state.wire.notify_all()
            if self._epoch() != epoch:
                raise _Dropped
            await state.limiter.acquire(row.chat_id)
            if self._epoch() != epoch:
                raise _Dropped
            state.on_wire += 1
        started = time.monotonic()
        try:
            yield
            state.round_trips.append(time.monotonic() - started)
        finally:
            async with state.wire:
                state.on_wire -= 1
                state.wire.notify_all()

    def _wire_cap(self, kind: ChannelKind) -> int:
        limits = self._limits[kind]
        if math.isinf(limits.per_second):
            return UNPACED_IN_FLIGHT
        return max(1, math.ceil(limits.per_second * self._round_trip(kind)))

    def _round_trip(self, kind: ChannelKind) -> float:
        trips = sorted(self._states[kind].round_trips)
        return trips[int(0.9 * (len(trips) - 1))] if trips else INITIAL_ROUND_TRIP

    async def _mark_sent(self, ids: list[int]) -> None:
        async with self._sessions() as session, session.begin():
            await outbox.mark_sent_many(session, ids, self._clock())

    async def _settle(self, results: list[_Result]) -> list[int]:
        """Count what was delivered (returned, to be marked sent); requeue what was dropped."""
        delivered = [r.row.id for r in results if r.delivered]
        for result in results:
            if result.delivered:
                self.metrics.count_sent(result.row.channel)  # metrics: sent
        dropped = [r for r in results if r.dropped]
        if dropped:
            logger.warning(
                "lease lost: messages not sent returned to the queue",
                extra={"messages": len(dropped)},
            )
            with contextlib.suppress(Exception):  # unreachable: the next holder recovers them
                async with self._sessions() as session, session.begin():
                    for epoch in {r.epoch for r in dropped}:
                        ids = [r.row.id for r in dropped if r.epoch == epoch]
                        await outbox.unclaim(session, ids, epoch)
        return delivered

    async def _failed(
        self, row: OutboxMessage, error: ChannelError, limiter: RateLimiter, epoch: int
    ) -> bool:
        """Mark the message failed or scheduled for a retry; True when it will be retried.

        Only while the claim of `epoch` is still ours: a process that lost the lease while
        this send was on its way leaves the row to the next holder (who may have sent it).
        """
        attempts = row.attempts + 1
        detail = str(error)
        if error.retry_after is not None and error.retry_after > 0:
            # The channel said how long to wait (Telegram's 429): the whole channel waits.
            limiter.pause(error.retry_after)
        async with self._sessions() as session, session.begin():
            if error.retry_after is None or attempts >= self._max_attempts:
                if not await outbox.mark_failed(session, row.id, detail, epoch):
                    self._not_ours(row, epoch)
                    return False
                logger.warning("message failed", extra={"message_id": row.id, "attempts": attempts})
                self.metrics.count_failed(row.channel)  # metrics: given up
                if self._report_failure:
                    await report_undeliverable(
                        session, row.channel, row.chat_id, row.user_id, self._clock()
                    )
                return False
            if error.retry_after > 0:
                delay = timedelta(seconds=error.retry_after)
            else:
                delay = backoff(attempts)
            until = self._clock() + delay
            if not await outbox.mark_retry(session, row.id, detail, until, epoch):
                self._not_ours(row, epoch)
                return False
            if error.retry_after > 0:
                self.metrics.count_rate_limited(row.channel)  # metrics: 429
            else:
                self.metrics.count_retried(row.channel)  # metrics: transient failure
            logger.info("message retry", extra={"message_id": row.id, "attempts": attempts})
            await outbox.defer_chat(session, row.channel, row.chat_id, row.id, until)
        return True

    @staticmethod
    def _not_ours(row: OutboxMessage, epoch: int) -> None:
        logger.warning(
            "a failed send is no longer this process's claim: left to the lease holder",
            extra={"message_id": row.id, "epoch": epoch},
        )
