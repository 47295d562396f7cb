"""The outbox dispatcher: order, retries, pacing and never sending twice, on both databases.

Time: the dispatcher stamps rows with a `FrozenClock`. Its rate limiter normally reads the real
monotonic clock; the `timeline` fixture makes it read the same frozen clock instead, and makes
the limiter's sleeps move that clock on, so a channel's "wait 3 s" costs no real time. The one
test of the per-chat interval uses a short real interval, because the dispatcher itself sleeps
(for real) until a held chat may receive again.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.outbox
import bot.ratelimit
from bot.errors import ChannelError
from bot.outbox import Dispatcher, backoff
from bot.ratelimit import Limits, RateLimiter
from handlers.services.delivery import enqueue
from handlers.types import ChannelKind, ChatKey, Document, Envelope, Incoming, Outgoing
from scheduler.clock import SHANGHAI, FrozenClock
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import outbox

KIND = ChannelKind.TELEGRAM
START = datetime(2022, 9, 14, 10, tzinfo=SHANGHAI)

# Scripted outcomes of one send: None delivers, an exception is raised.
Outcome = BaseException | None
OK: Outcome = None
PERMANENT = ChannelError("chat not found", retry_after=None)
TRANSIENT = ChannelError("connection reset", retry_after=0)
TOO_MANY = ChannelError("429 too many requests", retry_after=3)


def key(chat_id: str) -> ChatKey:
    return ChatKey(KIND, chat_id, f"user-{chat_id}")


@dataclass
class ScriptedChannel:
    """A channel whose sends succeed or fail as scripted, one outcome per call, in call order.

    It stands in for a chat network because these tests are about the dispatcher's retry logic
    (what it does with each kind of failure), not about talking to a peer; the real channels are
    tested against real peers elsewhere. When the script runs out, every send succeeds.
    """

    script: list[Outcome] = field(default_factory=list)
    kind: ChannelKind = KIND
    attempts: list[tuple[ChatKey, str]] = field(default_factory=list)  # every call, in order
    sent: list[tuple[ChatKey, Outgoing]] = field(default_factory=list)  # the successful ones
    sent_at: list[float] = field(default_factory=list)  # now() of each success
    now: Callable[[], float] = time.monotonic

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        self.attempts.append((to, message.text))
        outcome = self.script.pop(0) if self.script else OK
        if outcome is not None:
            raise outcome
        self.sent.append((to, message))
        self.sent_at.append(self.now())

    async def updates(self) -> AsyncIterator[Incoming]:
        return
        yield  # pragma: no cover - an empty async generator

    def sent_texts(self) -> list[tuple[str, str]]:
        return [(to.chat_id, message.text) for to, message in self.sent]


class Timeline:
    """One time line for a test: the dispatcher's FrozenClock, also the limiter's clock."""

    def __init__(self) -> None:
        self.clock = FrozenClock(START)
        self.sleeps: list[float] = []  # every delay the rate limiter slept
        self._sleepers: list[float] = []  # when each sleep under way ends

    def monotonic(self) -> float:
        return (self.clock.now() - START).total_seconds()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the time line: the earliest of the sleepers moves the clock to its end.

        Sends in flight sleep for their slots at the same time; each wakes at its own moment
        of the one time line, in order, as with real sleeps.
        """
        self.sleeps.append(seconds)
        target = self.monotonic() + seconds
        self._sleepers.append(target)
        try:
            while True:
                await asyncio.sleep(0)
                if self.monotonic() >= target:
                    return
                if target <= min(self._sleepers):
                    self.clock.advance(timedelta(seconds=target - self.monotonic()))
                    return
        finally:
            self._sleepers.remove(target)

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def at(self, seconds: float) -> datetime:
        return START + timedelta(seconds=seconds)


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch) -> Timeline:
    line = Timeline()
    # Not asyncio.sleep itself: the event loop and the database drivers use it too.
    monkeypatch.setattr(bot.ratelimit, "asyncio", SimpleNamespace(sleep=line.sleep))
    monkeypatch.setattr(
        bot.outbox, "RateLimiter", functools.partial(RateLimiter, clock=line.monotonic)
    )
    return line


Sessions = async_sessionmaker[AsyncSession]


async def queue(sessions: Sessions, clock: FrozenClock, *messages: tuple[str, str]) -> None:
    """Queue `(chat_id, text)` messages, oldest first, each in its own transaction."""
    for chat_id, text in messages:
        async with sessions() as session, session.begin():
            assert await enqueue(session, Envelope(key(chat_id), Outgoing(text)), clock.now())


@dataclass(frozen=True, slots=True)
class Stored:
    """What the outbox table says about one message."""

    text: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None


async def rows(sessions: Sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def stored(sessions: Sessions) -> list[Stored]:
    return [
        Stored(
            row.payload["text"],
            row.status,
            row.attempts,
            row.next_attempt_at,
            row.sent_at,
            row.last_error,
        )
        for row in await rows(sessions)
    ]


async def counts(sessions: Sessions) -> dict[str, int]:
    async with sessions() as session:
        return await outbox.counts_by_status(session)


def dispatcher(
    sessions: Sessions,
    channel: ScriptedChannel,
    clock: FrozenClock,
    *,
    limits: Limits | None = None,
    max_attempts: int = bot.outbox.MAX_ATTEMPTS,
) -> Dispatcher:
    return Dispatcher(
        sessions,
        {KIND: channel},
        clock.now,
        limits={KIND: limits} if limits else None,
        max_attempts=max_attempts,
    )


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


# --- sending ---


async def test_messages_are_sent_oldest_first_and_marked_sent_when_queued(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"))
    timeline.advance(1)
    await queue(session_maker, timeline.clock, ("a", "A2"))
    timeline.advance(1)

    sent = await dispatcher(session_maker, channel, timeline.clock).drain(KIND)

    assert sent == 3
    assert channel.sent == [
        (key("a"), Outgoing("A1")),
        (key("b"), Outgoing("B1")),
        (key("a"), Outgoing("A2")),
    ]
    now = timeline.at(2)
    assert await stored(session_maker) == [
        Stored("A1", OutboxStatus.SENT, 1, timeline.at(0), sent_at=now),
        Stored("B1", OutboxStatus.SENT, 1, timeline.at(0), sent_at=now),
        Stored("A2", OutboxStatus.SENT, 1, timeline.at(1), sent_at=now),
    ]


async def test_nothing_is_sent_again_when_drained_a_second_time(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"))
    sender = dispatcher(session_maker, channel, timeline.clock)
    await sender.drain(KIND)
    timeline.advance(3600)

    sent_again = await sender.drain(KIND)

    assert sent_again == 0
    assert channel.sent_texts() == [("a", "A1"), ("b", "B1")]


async def test_each_message_is_sent_once_when_two_drains_run_at_once(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    await queue(session_maker, timeline.clock, *[(f"c{i % 3}", f"M{i}") for i in range(6)])
    sender = dispatcher(session_maker, channel, timeline.clock)

    results = await asyncio.gather(sender.drain(KIND), sender.drain(KIND))

    assert sorted(results) == [0, 6]
    assert [text for _, text in channel.sent_texts()] == [f"M{i}" for i in range(6)]


async def test_only_that_chats_messages_are_sent_when_drained_for_one_chat(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"), ("a", "A2"))

    sent = await dispatcher(session_maker, channel, timeline.clock).drain(KIND, chat_id="a")

    assert sent == 2
    assert channel.sent_texts() == [("a", "A1"), ("a", "A2")]
    assert [(s.text, s.status) for s in await stored(session_maker)] == [
        ("A1", OutboxStatus.SENT),
        ("B1", OutboxStatus.QUEUED),
        ("A2", OutboxStatus.SENT),
    ]


async def test_only_that_channels_messages_are_sent_when_drained_for_one_channel(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    other = ScriptedChannel(kind=ChannelKind.WECOM)
    await queue(session_maker, timeline.clock, ("a", "A1"))
    async with session_maker() as session, session.begin():
        wecom_key = ChatKey(ChannelKind.WECOM, "w", "w")
        await enqueue(session, Envelope(wecom_key, Outgoing("W1")), timeline.clock.now())
    sender = Dispatcher(
        session_maker, {KIND: channel, ChannelKind.WECOM: other}, timeline.clock.now
    )

    sent = await sender.drain(KIND)

    assert (sent, channel.sent_texts(), other.attempts) == (1, [("a", "A1")], [])


async def test_document_reaches_the_channel_and_its_bytes_are_cleared_when_sent(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel()
    document = Document(
        "bulletin.docx",
        b"PK\x03\x04" + bytes(range(256)) * 64,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    message = Outgoing("the draft", document=document)
    async with session_maker() as session, session.begin():
        await enqueue(session, Envelope(key("a"), message), timeline.clock.now())

    await dispatcher(session_maker, channel, timeline.clock).drain(KIND)

    assert channel.sent == [(key("a"), message)]
    [row] = await rows(session_maker)
    assert (row.status, row.document_name, row.document) == (
        OutboxStatus.SENT,
        "bulletin.docx",
        None,
    )


async def test_document_bytes_are_kept_when_sending_failed_transiently(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([TRANSIENT])
    content = b"PK\x03\x04 a docx"
    message = Outgoing("the draft", document=Document("bulletin.docx", content, "application/x"))
    async with session_maker() as session, session.begin():
        await enqueue(session, Envelope(key("a"), message), timeline.clock.now())
    sender = dispatcher(session_maker, channel, timeline.clock)

    await sender.drain(KIND)
    [row] = await rows(session_maker)
    kept = row.document
    timeline.advance(seconds(backoff(1)))
    await sender.drain(KIND)

    assert kept == content
    assert channel.sent == [(key("a"), message)]


# --- failures and retries ---


async def test_retry_is_scheduled_with_exponential_backoff_when_errors_are_transient(
    session_maker: Sessions, timeline: Timeline
) -> None:
    errors = [ChannelError("reset 1", retry_after=0), ChannelError("reset 2", retry_after=0)]
    channel = ScriptedChannel(list(errors))
    await queue(session_maker, timeline.clock, ("a", "A1"))
    sender = dispatcher(session_maker, channel, timeline.clock)
    first, second = seconds(backoff(1)), seconds(backoff(2))
    states = []

    await sender.drain(KIND)  # fails: reset 1
    states.append(await stored(session_maker))
    timeline.advance(first - 0.001)
    await sender.drain(KIND)  # not due yet
    timeline.advance(0.001)
    await sender.drain(KIND)  # fails: reset 2
    states.append(await stored(session_maker))
    timeline.advance(second - 0.001)
    await sender.drain(KIND)  # not due yet
    timeline.advance(0.001)
    sent = await sender.drain(KIND)  # delivered

    assert (first, second) == (2.0, 4.0)
    assert states == [
        [Stored("A1", OutboxStatus.QUEUED, 1, timeline.at(first), last_error="reset 1")],
        [Stored("A1", OutboxStatus.QUEUED, 2, timeline.at(first + second), last_error="reset 2")],
    ]
    assert sent == 1
    assert channel.attempts == [(key("a"), "A1")] * 3
    assert channel.sent == [(key("a"), Outgoing("A1"))]
    end = timeline.at(first + second)
    assert await stored(session_maker) == [
        Stored("A1", OutboxStatus.SENT, 3, end, sent_at=end, last_error="reset 2")
    ]


async def test_channels_wait_is_waited_out_when_it_asks_to_retry_after_seconds(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([TOO_MANY])
    await queue(session_maker, timeline.clock, ("a", "A1"))
    sender = dispatcher(session_maker, channel, timeline.clock)

    await sender.drain(KIND)
    after_429 = await stored(session_maker)
    timeline.advance(2.999)
    early = await sender.drain(KIND)
    timeline.advance(0.001)
    sent = await sender.drain(KIND)

    assert after_429 == [
        Stored("A1", OutboxStatus.QUEUED, 1, timeline.at(3), last_error=str(TOO_MANY))
    ]
    assert (early, sent) == (0, 1)
    assert channel.attempts == [(key("a"), "A1")] * 2
    assert channel.sent == [(key("a"), Outgoing("A1"))]
    assert timeline.sleeps == []  # the clock reached the end of the pause: no extra wait


async def test_whole_channel_waits_when_one_chat_gets_retry_after(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([TOO_MANY])
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"))

    await dispatcher(session_maker, channel, timeline.clock).drain(KIND)

    # B1 waits out the 3 s before it goes (Telegram's 429 is for the whole bot)
    assert timeline.sleeps == [3.0]
    [_, b1] = await stored(session_maker)
    assert b1 == Stored("B1", OutboxStatus.SENT, 1, timeline.at(0), sent_at=timeline.at(3))


async def test_message_fails_after_one_attempt_when_the_error_is_permanent(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([PERMANENT])
    await queue(session_maker, timeline.clock, ("a", "A1"))
    sender = dispatcher(session_maker, channel, timeline.clock)

    first = await sender.drain(KIND)
    timeline.advance(seconds(bot.outbox.MAX_BACKOFF) * 10)
    later = await sender.drain(KIND)

    assert (first, later) == (0, 0)
    assert channel.attempts == [(key("a"), "A1")]
    assert await stored(session_maker) == [
        Stored("A1", OutboxStatus.FAILED, 1, timeline.at(0), last_error="chat not found")
    ]


async def test_message_fails_when_transient_errors_reach_max_attempts(
    session_maker: Sessions, timeline: Timeline
) -> None:
    # A fourth attempt would succeed: it must not be made.
    channel = ScriptedChannel([TRANSIENT, TRANSIENT, TRANSIENT, OK])
    await queue(session_maker, timeline.clock, ("a", "A1"))
    sender = dispatcher(session_maker, channel, timeline.clock, max_attempts=3)

    for _ in range(6):
        await sender.drain(KIND)
        timeline.advance(seconds(bot.outbox.MAX_BACKOFF))

    assert channel.attempts == [(key("a"), "A1")] * 3
    assert channel.sent == []
    assert await stored(session_maker) == [
        Stored(
            "A1",
            OutboxStatus.FAILED,
            3,
            # the second failure came at the second drain, one MAX_BACKOFF in
            timeline.at(seconds(bot.outbox.MAX_BACKOFF) + seconds(backoff(2))),
            last_error="connection reset",
        )
    ]


def test_backoff_doubles_up_to_the_cap_when_attempts_grow() -> None:
    delays = [seconds(backoff(attempts)) for attempts in range(1, 12)]

    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 600.0, 600.0]


@pytest.mark.parametrize(
    "crash", [TimeoutError(), RuntimeError("adapter bug")], ids=["timeout", "runtime-error"]
)
async def test_message_is_retried_and_other_chats_still_sent_when_the_channel_crashes(
    session_maker: Sessions, timeline: Timeline, crash: Exception
) -> None:
    channel = ScriptedChannel([crash])
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"))
    sender = dispatcher(session_maker, channel, timeline.clock)

    first = await sender.drain(KIND)
    after_crash = await stored(session_maker)
    timeline.advance(seconds(backoff(1)))
    second = await sender.drain(KIND)

    assert (first, second) == (1, 1)
    retry_at = timeline.at(seconds(backoff(1)))
    assert after_crash == [
        Stored("A1", OutboxStatus.QUEUED, 1, retry_at, last_error=repr(crash)),
        Stored("B1", OutboxStatus.SENT, 1, timeline.at(0), sent_at=timeline.at(0)),
    ]
    assert channel.sent_texts() == [("b", "B1"), ("a", "A1")]


async def test_chat_order_is_kept_when_its_first_message_fails_transiently(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([TRANSIENT])
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"), ("a", "A2"))
    sender = dispatcher(session_maker, channel, timeline.clock)

    await sender.drain(KIND)
    after_first = channel.sent_texts()
    held = await stored(session_maker)
    timeline.advance(seconds(backoff(1)))
    await sender.drain(KIND)

    retry_at = timeline.at(seconds(backoff(1)))
    assert after_first == [("b", "B1")]
    assert [(s.text, s.status, s.next_attempt_at) for s in held] == [
        ("A1", OutboxStatus.QUEUED, retry_at),
        ("B1", OutboxStatus.SENT, timeline.at(0)),
        ("A2", OutboxStatus.QUEUED, retry_at),  # held back with A1
    ]
    assert channel.attempts == [
        (key("a"), "A1"),
        (key("b"), "B1"),
        (key("a"), "A1"),
        (key("a"), "A2"),
    ]
    assert channel.sent_texts() == [("b", "B1"), ("a", "A1"), ("a", "A2")]


async def test_chat_order_is_kept_when_its_first_message_is_told_to_wait(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([TOO_MANY])
    await queue(session_maker, timeline.clock, ("a", "A1"), ("a", "A2"), ("a", "A3"))
    sender = dispatcher(session_maker, channel, timeline.clock)

    first = await sender.drain(KIND)
    timeline.advance(3)
    second = await sender.drain(KIND)

    assert (first, second) == (0, 3)
    assert channel.sent_texts() == [("a", "A1"), ("a", "A2"), ("a", "A3")]


async def test_next_message_is_sent_in_the_same_drain_when_the_previous_failed_permanently(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([PERMANENT])
    await queue(session_maker, timeline.clock, ("a", "A1"), ("a", "A2"))

    sent = await dispatcher(session_maker, channel, timeline.clock).drain(KIND)

    assert (sent, channel.sent_texts()) == (1, [("a", "A2")])


async def test_next_message_is_sent_in_the_same_drain_when_the_previous_ran_out_of_attempts(
    session_maker: Sessions, timeline: Timeline
) -> None:
    channel = ScriptedChannel([TRANSIENT, TRANSIENT])
    await queue(session_maker, timeline.clock, ("a", "A1"), ("a", "A2"))
    sender = dispatcher(session_maker, channel, timeline.clock, max_attempts=2)
    await sender.drain(KIND)
    timeline.advance(seconds(backoff(1)))

    sent = await sender.drain(KIND)  # A1 fails for good; A2 is due and next in line

    assert (sent, channel.sent_texts()) == (1, [("a", "A2")])


async def test_every_message_ends_sent_once_or_failed_when_failures_are_mixed(
    session_maker: Sessions, timeline: Timeline
) -> None:
    crash: Outcome = RuntimeError("adapter bug")
    channel = ScriptedChannel(
        # in call order; the dispatcher decides which message each outcome meets
        [TRANSIENT, PERMANENT, TOO_MANY, crash, OK, TRANSIENT, OK, TOO_MANY, PERMANENT]
        + [TRANSIENT] * 3
        + [OK, crash, OK]
    )
    chats = ["a", "b", "c", "d"]
    texts = [f"{chat.upper()}{n}" for n in range(1, 4) for chat in chats]
    await queue(session_maker, timeline.clock, *[(text[0].lower(), text) for text in texts])
    sender = dispatcher(session_maker, channel, timeline.clock, max_attempts=3)

    for _ in range(12):
        await sender.drain(KIND)
        timeline.advance(seconds(bot.outbox.MAX_BACKOFF))

    final = await stored(session_maker)
    status = {s.text: s.status for s in final}
    delivered = [text for _, text in channel.sent_texts()]
    assert sorted(delivered) == sorted(t for t in texts if status[t] == OutboxStatus.SENT)
    assert Counter(delivered) == Counter(set(delivered))  # none twice
    # Which message meets which outcome depends on the order the sends in flight take
    # their slots; every message ends sent or failed, none still queued or claimed.
    final_counts = await counts(session_maker)
    assert set(final_counts) <= {OutboxStatus.SENT, OutboxStatus.FAILED}
    assert sum(final_counts.values()) == len(texts)
    assert final_counts[OutboxStatus.FAILED] >= 2  # both permanent errors
    for chat in chats:  # and each chat's deliveries kept their order
        mine = [text for text in delivered if text[0].lower() == chat]
        assert mine == sorted(mine)


# --- pacing ---


async def test_sends_are_spaced_at_the_total_rate_when_limits_are_set(
    session_maker: Sessions, timeline: Timeline
) -> None:
    # Three sends in flight at once (different chats) still leave a quarter second apart;
    # those that finish together are marked sent together, at that time.
    channel = ScriptedChannel(now=lambda: timeline.monotonic())
    await queue(session_maker, timeline.clock, ("a", "A1"), ("b", "B1"), ("c", "C1"))
    limits = Limits(per_second=4.0, per_chat_interval=0.0)

    await dispatcher(session_maker, channel, timeline.clock, limits=limits).drain(KIND)

    assert channel.sent_texts() == [("a", "A1"), ("b", "B1"), ("c", "C1")]
    assert channel.sent_at == [0.0, 0.25, 0.5]
    stamps = [s.sent_at for s in await stored(session_maker)]
    assert stamps == sorted(stamps) and stamps[-1] == timeline.at(0.5)


async def test_messages_to_one_chat_are_spaced_by_its_interval_when_limits_are_set(
    session_maker: Sessions,
) -> None:
    # Real time: the dispatcher sleeps until a held chat may receive again.
    interval = 0.05
    clock = FrozenClock(START)
    channel = ScriptedChannel()
    await queue(session_maker, clock, ("a", "A1"), ("a", "A2"), ("b", "B1"))
    limits = Limits(per_second=1000.0, per_chat_interval=interval)

    sent = await asyncio.wait_for(
        dispatcher(session_maker, channel, clock, limits=limits).drain(KIND), 5
    )

    assert sent == 3
    assert channel.sent_texts() == [("a", "A1"), ("b", "B1"), ("a", "A2")]
    gap = channel.sent_at[2] - channel.sent_at[0]
    assert interval <= gap < interval + 2.0  # the upper bound only catches a runaway wait
