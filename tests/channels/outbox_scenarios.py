"""Outbox scenarios run against each real channel (Telegram's loopback server, the WeChat peer).

- `paused_leader`: the lease holder is stopped (as by SIGSTOP) with sends in flight; another
  process takes the lease over and sends; the first resumes. Counts what reached each chat.
- `Gated`: a channel wrapper whose first send waits for a gate (the stopped process).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Channel, PartedChannel
from bot.outbox import Dispatcher, Fence
from bot.ratelimit import Limits
from bot.runner import LEASE_NAME, LEASE_TTL
from handlers.services.delivery import enqueue
from handlers.types import ChannelKind, ChatKey, Envelope, Incoming, Outgoing
from scheduler.clock import FrozenClock
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import leases

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Gated:
    """`inner`, except that its first send waits until `gate` is set (the process is stopped).

    The send then goes out for real: a send on its way when a process stops reaches the chat
    when it resumes (or was written to the socket already).
    """

    inner: PartedChannel
    kind: ChannelKind
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    sends: int = 0  # sends this process started (part calls)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def updates(self) -> AsyncIterator[Incoming]:
        raise NotImplementedError

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        for index in range(self.part_count(message)):
            await self.send_part(to, message, index)

    def part_count(self, message: Outgoing) -> int:
        return self.inner.part_count(message)

    async def send_part(self, to: ChatKey, message: Outgoing, index: int) -> None:
        self.sends += 1
        if self.sends == 1:
            self.waiting.set()
            await self.gate.wait()
        await self.inner.send_part(to, message, index)


@dataclass
class PausedLeaderOutcome:
    queued: int
    sent_by_paused: int  # sends the stopped process made after it resumed
    in_flight_at_pause: int  # sends started (on their way) when it stopped
    rows_sent: int  # outbox rows 'sent' at the end


async def lease_for(sessions: Sessions, holder: str, clock: FrozenClock) -> Fence:
    """Take the lease as `holder` now; return the fence its dispatcher sends under."""
    now = clock.now()
    async with sessions() as session, session.begin():
        epoch = await leases.acquire(session, LEASE_NAME, holder, now, now + LEASE_TTL)
    assert epoch is not None, f"{holder} could not take the lease"
    fence = Fence(LEASE_NAME, holder)
    fence.renewed(epoch, fence.clock(), LEASE_TTL.total_seconds() - 5)
    return fence


async def paused_leader(
    sessions: Sessions,
    clock: FrozenClock,
    channel: Channel,
    kind: ChannelKind,
    recipients: list[ChatKey],
) -> PausedLeaderOutcome:
    """One message to each recipient; the leader stops with one send on its way and more
    claimed (waiting for their slot at 2 a second); the standby takes over after the lease
    expired and sends; the leader resumes. Returns what happened."""
    assert isinstance(channel, PartedChannel)
    for index, to in enumerate(recipients):
        async with sessions() as session, session.begin():
            await enqueue(session, Envelope(to, Outgoing(f"第{index + 1}条")), clock.now())

    fence_a = await lease_for(sessions, "a", clock)
    stopped_at = [0.0]
    fence_a.clock = lambda: stopped_at[0]  # its monotonic clock, moved by the "stop" below
    fence_a.renewed(fence_a.epoch, 0.0, LEASE_TTL.total_seconds() - 5)
    gated = Gated(channel, kind)
    slow = {kind: Limits(per_second=2.0, per_chat_interval=0.0)}
    leader = Dispatcher(sessions, {kind: gated}, clock.now, slow, fence=fence_a, in_flight=3)
    draining = asyncio.create_task(leader.drain(kind))
    await asyncio.wait_for(gated.waiting.wait(), 10)

    # SIGSTOP: 65 s pass for everyone; the lease expires and the standby takes it.
    stopped_at[0] = 65.0
    clock.advance(timedelta(seconds=65))
    fence_b = await lease_for(sessions, "b", clock)
    assert fence_b.epoch == (fence_a.epoch or 0) + 1
    standby = Dispatcher(sessions, {kind: channel}, clock.now, fence=fence_b)
    assert await standby.drain(kind) == len(recipients)

    # SIGCONT: the leader's send on its way completes; what it had claimed is dropped.
    gated.gate.set()
    await asyncio.wait_for(draining, 10)
    async with sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        statuses = [row.status for row in rows.all()]
    return PausedLeaderOutcome(
        queued=len(recipients),
        sent_by_paused=gated.sends,
        in_flight_at_pause=1,
        rows_sent=statuses.count(OutboxStatus.SENT),
    )
