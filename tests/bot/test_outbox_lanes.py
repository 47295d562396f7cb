"""The outbox's lanes, fair selection per chat and sends in flight, on both databases.

Helpers and the `timeline` fixture (a frozen clock the rate limiter also reads and sleeps on)
come from `test_outbox.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.outbox import Dispatcher, in_flight_for
from bot.ratelimit import TELEGRAM_LIMITS, Limits
from handlers.services.delivery import outbox_row
from handlers.types import ChatKey, Envelope, Outgoing
from scheduler.clock import FrozenClock
from storage.models import Lane, OutboxMessage, OutboxStatus, Role
from storage.repositories import outbox
from tests.bot.test_outbox import KIND, START, ScriptedChannel, Timeline, key, timeline
from tests.fakes import RecordingChannel, bound_person

__all__ = ["timeline"]  # the fixture, used here

Sessions = async_sessionmaker[AsyncSession]


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def put(
    sessions: Sessions, clock: FrozenClock, lane: Lane, *messages: tuple[str, str]
) -> None:
    """Queue `(chat_id, text)` messages in `lane`, in order, in one transaction."""
    rows = [
        outbox_row(Envelope(key(chat_id), Outgoing(text_)), clock.now(), lane)
        for chat_id, text_ in messages
    ]
    async with sessions() as session, session.begin():
        await outbox.enqueue_many(session, rows)


# --- part 1: two lanes ---


async def test_reply_goes_before_bulk_messages_queued_earlier(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    await put(session_maker, timeline.clock, Lane.BULK, *[(f"b{i}", f"P{i}") for i in range(5)])
    await put(session_maker, timeline.clock, Lane.REPLY, ("r", "R1"), ("r", "R2"))
    sender = Dispatcher(session_maker, {KIND: channel}, timeline.clock.now, in_flight=1)

    assert await sender.drain(KIND) == 7

    # In its lane a chat's messages keep their order: R2 follows R1, then the bulk in order.
    assert channel.sent_texts() == [
        ("r", "R1"),
        ("r", "R2"),
        *[(f"b{i}", f"P{i}") for i in range(5)],
    ]


async def test_a_reply_overtakes_its_own_chats_bulk_but_a_lane_keeps_its_order(
    session_maker: Sessions, timeline: Timeline
) -> None:
    # Chat "a" was prompted (bulk, not yet sent) and then wrote twice; others' prompts wait.
    channel = ScriptedChannel()
    await put(session_maker, timeline.clock, Lane.BULK, ("a", "prompt"), ("x", "X1"), ("a", "P2"))
    await put(session_maker, timeline.clock, Lane.REPLY, ("a", "reply 1"), ("a", "reply 2"))
    sender = Dispatcher(session_maker, {KIND: channel}, timeline.clock.now, in_flight=1)

    await sender.drain(KIND)

    # The person is answered at once; their prompt follows; each lane in its own order.
    sent = channel.sent_texts()
    assert sent[:2] == [("a", "reply 1"), ("a", "reply 2")]
    assert [t for c, t in sent if c == "a"] == ["reply 1", "reply 2", "prompt", "P2"]
    assert sorted(sent) == sorted(
        [("a", "prompt"), ("x", "X1"), ("a", "P2"), ("a", "reply 1"), ("a", "reply 2")]
    )


async def test_total_rate_holds_across_both_lanes(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel(now=timeline.monotonic)
    await put(session_maker, timeline.clock, Lane.BULK, *[(f"b{i}", f"B{i}") for i in range(4)])
    await put(session_maker, timeline.clock, Lane.REPLY, *[(f"r{i}", f"R{i}") for i in range(4)])
    limits = Limits(per_second=4.0, per_chat_interval=0.0)
    sender = Dispatcher(session_maker, {KIND: channel}, timeline.clock.now, {KIND: limits})

    assert await sender.drain(KIND) == 8

    assert [text_ for _, text_ in channel.sent_texts()][:4] == ["R0", "R1", "R2", "R3"]
    assert channel.sent_at == [i * 0.25 for i in range(8)]


async def test_per_chat_interval_holds_across_both_lanes(session_maker: Sessions) -> None:
    # Real time: the dispatcher waits (for real) until a paced chat may receive again.
    interval = 0.05
    clock = FrozenClock(START)
    channel = ScriptedChannel()
    await put(session_maker, clock, Lane.BULK, ("a", "A1"))
    await put(session_maker, clock, Lane.REPLY, ("a", "A2"), ("b", "B1"))
    limits = Limits(per_second=1000.0, per_chat_interval=interval)
    sender = Dispatcher(session_maker, {KIND: channel}, clock.now, {KIND: limits})

    assert await asyncio.wait_for(sender.drain(KIND), 5) == 3

    # a's reply overtakes a's bulk A1, which then waits for a's interval.
    assert channel.sent_texts() == [("a", "A2"), ("b", "B1"), ("a", "A1")]
    assert channel.sent_at[2] - channel.sent_at[0] >= interval


async def test_engine_queues_its_answers_to_a_person_as_replies(
    app: App, clock: FrozenClock
) -> None:
    channel = RecordingChannel()
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.send("帮助")
    async with app.sessions() as session:
        lanes = {
            (row.chat_id, row.lane)
            for row in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        }
    assert lanes == {("编辑老陈", Lane.REPLY)}


# --- part 2: fair selection per chat ---


async def test_one_chats_backlog_does_not_hold_other_chats_back(session_maker: Sessions) -> None:
    # 300 messages to one chat (more than the old dispatcher's window of 200 oldest rows),
    # then one to each of 20 other chats: each of those goes within the first sends, not
    # after the noisy chat's 300 seconds of pacing.
    clock = FrozenClock(START)
    channel = ScriptedChannel()
    await put(session_maker, clock, Lane.BULK, *[("noisy", f"N{i}") for i in range(300)])
    await put(session_maker, clock, Lane.BULK, *[(f"c{i}", f"C{i}") for i in range(20)])
    limits = Limits(per_second=1000.0, per_chat_interval=1.0)
    sender = Dispatcher(session_maker, {KIND: channel}, clock.now, {KIND: limits})

    draining = asyncio.create_task(sender.drain(KIND))
    await until(lambda: len(channel.sent) >= 21)
    draining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await draining

    assert channel.sent_texts()[:21] == [("noisy", "N0")] + [(f"c{i}", f"C{i}") for i in range(20)]


async def test_a_chat_served_already_waits_for_the_chats_not_served_yet(
    session_maker: Sessions, timeline: Timeline
) -> None:
    # No per-chat pacing to hide behind: the backlog's head is always the oldest, yet after
    # its first message every other chat has its turn (round robin), then the backlog goes on.
    channel = ScriptedChannel()
    await put(session_maker, timeline.clock, Lane.BULK, *[("noisy", f"N{i}") for i in range(30)])
    await put(session_maker, timeline.clock, Lane.BULK, *[(f"c{i}", f"C{i}") for i in range(20)])
    sender = Dispatcher(session_maker, {KIND: channel}, timeline.clock.now, in_flight=1)

    assert await sender.drain(KIND) == 50

    assert channel.sent_texts() == (
        [("noisy", "N0")]
        + [(f"c{i}", f"C{i}") for i in range(20)]
        + [("noisy", f"N{i}") for i in range(1, 30)]
    )


async def test_chat_waiting_for_a_retry_keeps_its_order_when_it_is_asked_again(
    session_maker: Sessions, timeline: Timeline
) -> None:
    # A1 failed and waits; A2 was queued after the failure (so not deferred with it): A2 is
    # not the head of the chat's queue, so it waits for A1.
    from tests.bot.test_outbox import TRANSIENT

    channel = ScriptedChannel([TRANSIENT])
    await put(session_maker, timeline.clock, Lane.REPLY, ("a", "A1"))
    sender = Dispatcher(session_maker, {KIND: channel}, timeline.clock.now)
    await sender.drain(KIND)
    timeline.advance(1)
    await put(session_maker, timeline.clock, Lane.REPLY, ("a", "A2"))

    assert await sender.drain(KIND) == 0
    timeline.advance(1)
    assert await sender.drain(KIND) == 2
    assert channel.sent_texts() == [("a", "A1"), ("a", "A2")]


def plan_text(rows: Sequence[object]) -> str:
    return "\n".join(" ".join(str(col) for col in row) for row in rows)  # type: ignore[attr-defined]


async def test_heads_of_the_queues_come_from_the_queue_index(session_maker: Sessions) -> None:
    # The statement `next_heads` runs, compiled from `outbox.HEADS` (not a copy of its SQL).
    from benchmarks.queue_plan import heads_statement

    clock = FrozenClock(START)
    await put(session_maker, clock, Lane.BULK, ("a", "A1"), ("b", "B1"), ("a", "A2"))
    await put(session_maker, clock, Lane.REPLY, ("a", "R1"))
    async with session_maker() as session, session.begin():
        dialect = session.get_bind().dialect.name
        sqlite = dialect == "sqlite"
        if not sqlite:
            await session.execute(text("SET LOCAL enable_seqscan = off"))
        statement = heads_statement(dialect, "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ")
        plan = plan_text(
            (
                await session.execute(
                    statement, {"channel": KIND.value, "now": clock.now(), "limit": 40}
                )
            ).all()
        )
    if sqlite:
        assert "COVERING INDEX ix_outbox_queue (status=? AND channel=?)" in plan
        assert "TEMP B-TREE FOR GROUP BY" not in plan  # grouped in index order
    else:
        assert "Index Only Scan using ix_outbox_queue" in plan
        assert "Sort Key: outbox_1.chat_id" not in plan  # grouped in index order


# --- part 3: sends in flight ---


def test_sends_in_flight_are_sized_from_the_rate_and_the_round_trip() -> None:
    assert in_flight_for(TELEGRAM_LIMITS, 0.150) == 7  # ceil(29 × 0.15) + 2
    assert in_flight_for(TELEGRAM_LIMITS, 0.004) == 3  # loopback
    assert in_flight_for(TELEGRAM_LIMITS, 5.0) == 32  # bounded
    assert in_flight_for(Limits(per_second=1.0, per_chat_interval=1.0), 0.1) == 3
    assert in_flight_for(Limits(per_second=float("inf"), per_chat_interval=0.0), 1.0) == 8


@dataclass
class SlowChannel(ScriptedChannel):
    """Every send takes `delay` seconds (a round trip); records how many were on their way."""

    delay: float = 0.05
    on_way: dict[str, int] = field(default_factory=dict)
    most_at_once: int = 0
    most_to_one_chat: int = 0

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        self.on_way[to.chat_id] = self.on_way.get(to.chat_id, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.on_way.values()))
        self.most_to_one_chat = max(self.most_to_one_chat, self.on_way[to.chat_id])
        try:
            await asyncio.sleep(self.delay)
            await super().send(to, message)
        finally:
            self.on_way[to.chat_id] -= 1


async def test_several_sends_are_in_flight_but_never_two_to_one_chat(
    session_maker: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(START)
    channel = SlowChannel(delay=0.1)
    messages = [(f"c{i}", f"M{i}") for i in range(12)] + [("c0", "M0b"), ("c0", "M0c")]
    await put(session_maker, clock, Lane.BULK, *messages)
    marked: list[int] = []
    mark = outbox.mark_sent_many

    async def counted(session: AsyncSession, ids: Sequence[int], now: object) -> int:
        marked.append(len(ids))
        return await mark(session, ids, now)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "mark_sent_many", counted)
    sender = Dispatcher(session_maker, {KIND: channel}, clock.now, in_flight=4)

    started = time.monotonic()
    assert await asyncio.wait_for(sender.drain(KIND), 10) == 14
    took = time.monotonic() - started

    assert (channel.most_at_once, channel.most_to_one_chat) == (4, 1)
    assert took < 14 * 0.1  # one at a time takes at least 1.4 s; 5 rounds of 0.1 s here
    assert [t for c, t in channel.sent_texts() if c == "c0"] == ["M0", "M0b", "M0c"]
    # Sends that finished together were marked together: fewer statements than messages.
    assert sum(marked) == 14 and len(marked) < 14 and max(marked) >= 2


async def test_round_trips_measured_size_the_sends_in_flight(session_maker: Sessions) -> None:
    clock = FrozenClock(START)
    channel = SlowChannel(delay=0.17)
    await put(session_maker, clock, Lane.BULK, *[(f"c{i}", f"M{i}") for i in range(6)])
    limits = Limits(per_second=20.0, per_chat_interval=0.0)
    sender = Dispatcher(session_maker, {KIND: channel}, clock.now, {KIND: limits})
    before = sender.in_flight(KIND)  # from the initial guess of 0.25 s

    await asyncio.wait_for(sender.drain(KIND), 10)

    assert before == 7  # ceil(20 × 0.25) + 2
    assert sender.in_flight(KIND) == 6  # ceil(20 × ~0.17) + 2


async def test_messages_queued_meanwhile_are_sent_in_the_same_drain(
    session_maker: Sessions,
) -> None:
    clock = FrozenClock(START)
    channel = SlowChannel(delay=0.1)
    await put(session_maker, clock, Lane.BULK, *[(f"b{i}", f"B{i}") for i in range(3)])
    sender = Dispatcher(session_maker, {KIND: channel}, clock.now, in_flight=4)

    draining = asyncio.create_task(sender.drain(KIND))
    await asyncio.sleep(0.03)
    await put(session_maker, clock, Lane.REPLY, ("r", "R1"))
    sender.wake()
    sent = await asyncio.wait_for(draining, 5)

    assert sent == 4
    assert ("r", "R1") in channel.sent_texts()


async def test_claims_of_a_cancelled_drain_go_back_to_the_queue(session_maker: Sessions) -> None:
    clock = FrozenClock(START)
    channel = SlowChannel(delay=10)
    await put(session_maker, clock, Lane.BULK, ("a", "A1"))
    sender = Dispatcher(session_maker, {KIND: channel}, clock.now)
    draining = asyncio.create_task(sender.drain(KIND))
    await until(lambda: bool(channel.on_way.get("a")))
    draining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await draining
    async with session_maker() as session:
        assert await outbox.counts_by_status(session) == {OutboxStatus.SENDING: 1}

    channel.delay = 0
    clock.advance(timedelta(seconds=1))
    assert await sender.drain(KIND) == 1
