"""The outbox through the real python-telegram-bot against the loopback Bot API server.

One sender (a leader stopped and resumed, a leader killed between a send and its commit, a
process whose lease was taken while it thought it held it) and parts remembered (a long
text failing half-way, a document failing after its text), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram import TelegramChannel
from bot.errors import ChannelError
from bot.outbox import Dispatcher, backoff
from bot.ratelimit import TELEGRAM_LIMITS
from handlers.services.delivery import enqueue, outbox_row
from handlers.types import ChannelKind, ChatKey, Document, Envelope, Outgoing
from scheduler.clock import FrozenClock
from storage.models import Lane, OutboxMessage, OutboxStatus
from storage.repositories import outbox
from tests.channels.outbox_scenarios import lease_for, paused_leader
from tests.channels.telegram_server import TelegramServer

Sessions = async_sessionmaker[AsyncSession]
TG = ChannelKind.TELEGRAM
CHATS = [1000 + n for n in range(10)]
REPO = Path(__file__).resolve().parents[2]


def telegram_channel(server: TelegramServer, sessions: Sessions, clock: FrozenClock) -> Any:
    return TelegramChannel(
        server.token,
        sessions=sessions,
        clock=clock.now,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        poll_timeout=1,
    )


@pytest.fixture
async def tg(telegram_server: TelegramServer, session_maker: Sessions, clock: FrozenClock) -> Any:
    channel = telegram_channel(telegram_server, session_maker, clock)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


def to(chat: int) -> ChatKey:
    return ChatKey(TG, str(chat), str(chat))


def deliveries(server: TelegramServer, chats: list[int]) -> Counter[int]:
    return Counter({chat: len(server.sent_to(chat)) for chat in chats})


# --- one sender ---


async def test_stopped_leader_repeats_at_most_the_send_it_had_on_its_way(
    telegram_server: TelegramServer,
    tg: TelegramChannel,
    session_maker: Sessions,
    clock: FrozenClock,
) -> None:
    outcome = await paused_leader(session_maker, clock, tg, TG, [to(chat) for chat in CHATS])

    reached = deliveries(telegram_server, CHATS)
    repeats = sum(reached.values()) - len(CHATS)
    assert min(reached.values()) == 1  # every chat got its message
    # The leader had 3 claimed: one on its way when it stopped, two waiting for their slot.
    # On resuming, it completed the one (a repeat) and dropped the two.
    assert outcome.sent_by_paused == outcome.in_flight_at_pause == 1
    assert repeats == outcome.sent_by_paused
    assert outcome.rows_sent == len(CHATS)


async def test_process_whose_lease_was_taken_claims_nothing(
    telegram_server: TelegramServer,
    tg: TelegramChannel,
    session_maker: Sessions,
    clock: FrozenClock,
) -> None:
    # Its clock says it still holds the lease (a skewed clock); the database says otherwise.
    async with session_maker() as session, session.begin():
        await enqueue(session, Envelope(to(CHATS[0]), Outgoing("提醒")), clock.now())
    stale = await lease_for(session_maker, "a", clock)
    clock.advance(timedelta(minutes=1))
    await lease_for(session_maker, "b", clock)

    sent = await Dispatcher(session_maker, {TG: tg}, clock.now, fence=stale).drain(TG)

    assert sent == 0
    assert telegram_server.sent_to(CHATS[0]) == []
    async with session_maker() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
    assert (row.status, row.claim_epoch) == (OutboxStatus.QUEUED, None)


async def test_a_send_failing_after_the_lease_moved_leaves_the_new_holders_message_alone(
    telegram_server: TelegramServer,
    tg: TelegramChannel,
    session_maker: Sessions,
    clock: FrozenClock,
) -> None:
    # A claims the message and its send hangs; meanwhile A's lease expires, B takes it, puts
    # A's claim back and delivers the message; then A's send fails. A must not put the
    # message back in the queue (B would send it again) nor give it up.
    async with session_maker() as session, session.begin():
        await enqueue(session, Envelope(to(CHATS[0]), Outgoing("提醒")), clock.now())
    stale = await lease_for(session_maker, "a", clock)

    class HangsThenFails:
        kind = TG

        async def send(self, key: ChatKey, message: Outgoing) -> None:
            clock.advance(timedelta(minutes=1))
            fence = await lease_for(session_maker, "b", clock)
            assert await Dispatcher(session_maker, {TG: tg}, clock.now, fence=fence).drain(TG) == 1
            raise ChannelError("read timed out", retry_after=0)

    a = Dispatcher(session_maker, {TG: HangsThenFails()}, clock.now, fence=stale)  # type: ignore[dict-item]
    assert await a.drain(TG) == 0

    async with session_maker() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
    assert row.status == OutboxStatus.SENT
    fence = await lease_for(session_maker, "b", clock)
    assert await Dispatcher(session_maker, {TG: tg}, clock.now, fence=fence).drain(TG) == 0
    assert len(telegram_server.sent_to(CHATS[0])) == 1


KILLED_AFTER_SENDS = """
import asyncio, os, signal, sys, time
from datetime import datetime, timedelta
from bot.channels.telegram import TelegramChannel
from bot.outbox import Dispatcher, Fence
from handlers.types import ChannelKind
from scheduler.clock import FrozenClock
from storage.database import create_engine, session_factory
from storage.repositories import leases, outbox

async def main() -> None:
    url, base, token, at = sys.argv[1:5]
    clock = FrozenClock(datetime.fromisoformat(at))
    sessions = session_factory(create_engine(url))
    channel = TelegramChannel(
        token, sessions=sessions, clock=clock.now, base_url=base, base_file_url=base
    )
    await channel.start()
    now = clock.now()
    async with sessions() as session, session.begin():
        until = now + timedelta(seconds=45)
        epoch = await leases.acquire(session, "scheduler", "dying", now, until)
    fence = Fence("scheduler", "dying")
    fence.renewed(epoch, time.monotonic(), 40)
    real = outbox.mark_sent_many
    batches = []

    async def mark_then_die(session, ids, now):
        batches.append(len(ids))
        if len(batches) == 2:  # the second batch was delivered: die before its commit
            print(sum(batches[:-1]), batches[-1], flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return await real(session, ids, now)

    outbox.mark_sent_many = mark_then_die
    dispatcher = Dispatcher(
        sessions, {ChannelKind.TELEGRAM: channel}, clock.now, fence=fence, in_flight=4
    )
    await dispatcher.drain(ChannelKind.TELEGRAM)

asyncio.run(main())
"""


async def test_leader_killed_between_sends_and_their_commit_repeats_only_those(
    telegram_server: TelegramServer,
    tg: TelegramChannel,
    session_maker: Sessions,
    clock: FrozenClock,
    db_url: str,
) -> None:
    chats = [2000 + n for n in range(12)]
    for chat in chats:
        async with session_maker() as session, session.begin():
            await enqueue(session, Envelope(to(chat), Outgoing("本周动态")), clock.now())

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_AFTER_SENDS,
        db_url,
        telegram_server.base_url,
        telegram_server.token,
        clock.now().isoformat(),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == -9, err.decode()
    committed, in_batch = (int(n) for n in out.split())
    before = deliveries(telegram_server, chats)
    delivered_by_dead = sum(before.values())
    unconfirmed = delivered_by_dead - committed  # on their way or delivered, not committed
    assert in_batch <= unconfirmed <= 4  # at most the sends in flight

    # A new process takes the lease once it expired and sends the rest.
    clock.advance(timedelta(seconds=46))
    fence = await lease_for(session_maker, "after", clock)
    await Dispatcher(session_maker, {TG: tg}, clock.now, fence=fence).drain(TG)

    reached = deliveries(telegram_server, chats)
    assert min(reached.values()) == 1
    repeats = sum(reached.values()) - len(chats)
    assert repeats == unconfirmed  # exactly those it had not committed, no more
    async with session_maker() as session:
        counts = await outbox.counts_by_status(session)
    assert counts == {OutboxStatus.SENT: len(chats)}


# --- parts remembered ---


async def test_long_text_failing_half_way_sends_only_the_missing_pieces_again(
    telegram_server: TelegramServer,
    tg: TelegramChannel,
    session_maker: Sessions,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pieces = [f"第{n}段" + "字" * 4000 for n in range(1, 4)]
    async with session_maker() as session, session.begin():
        await enqueue(session, Envelope(to(CHATS[0]), Outgoing("\n\n".join(pieces))), clock.now())
    real = outbox.mark_parts

    async def then_fail(session: AsyncSession, message_id: int, parts_sent: int) -> None:
        await real(session, message_id, parts_sent)
        if parts_sent == 1:
            telegram_server.fail_next("sendMessage", status=502)  # the second piece fails

    monkeypatch.setattr(outbox, "mark_parts", then_fail)
    sender = Dispatcher(session_maker, {TG: tg}, clock.now)

    assert await sender.drain(TG) == 0
    async with session_maker() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
    assert (row.status, row.parts_sent) == (OutboxStatus.QUEUED, 1)
    clock.advance(backoff(1))
    assert await sender.drain(TG) == 1

    assert [call.params["text"] for call in telegram_server.sent_to(CHATS[0])] == pieces
    attempts = [c.status for c in telegram_server.calls_of("sendMessage")]
    assert attempts == [200, 502, 200, 200]


async def test_document_failing_after_its_text_sends_only_the_file_again(
    telegram_server: TelegramServer,
    tg: TelegramChannel,
    session_maker: Sessions,
    clock: FrozenClock,
) -> None:
    text = "本期草稿说明：" + "内容" * 600  # longer than a caption: text first, then the file
    document = Document("bulletin.docx", b"PK\x03\x04 draft", "application/x")
    async with session_maker() as session, session.begin():
        await enqueue(
            session, Envelope(to(CHATS[0]), Outgoing(text, document=document)), clock.now()
        )
    telegram_server.fail_next("sendDocument", status=502)
    sender = Dispatcher(session_maker, {TG: tg}, clock.now)

    assert await sender.drain(TG) == 0
    clock.advance(backoff(1))
    assert await sender.drain(TG) == 1

    reached = telegram_server.sent_to(CHATS[0])
    assert [(c.method, c.params.get("text")) for c in reached] == [
        ("sendMessage", text),
        ("sendDocument", None),
    ]
    assert reached[1].files["document"] == ("bulletin.docx", document.content)


# --- lanes and limits over the wire ---


async def test_both_lanes_keep_to_telegrams_limits_with_sends_in_flight(
    session_maker: Sessions, clock: FrozenClock
) -> None:
    # Telegram's limits 5 times faster (150 a second, one per 0.2 s to a chat), enforced by
    # the server with 429s; 60 chats prompted (bulk), 10 of them then answered (reply).
    speedup = 5.0
    prompted = [3000 + n for n in range(60)]
    answered = prompted[-10:]
    async with TelegramServer(limits=(30, 1.0), speedup=speedup) as server:
        channel = telegram_channel(server, session_maker, clock)
        await channel.start()
        try:
            rows = [
                outbox_row(Envelope(to(chat), Outgoing("本周动态")), clock.now())
                for chat in prompted
            ] + [
                outbox_row(Envelope(to(chat), Outgoing("已收到")), clock.now(), Lane.REPLY)
                for chat in answered
            ]
            async with session_maker() as session, session.begin():
                await outbox.enqueue_many(session, rows)
            limits = {TG: TELEGRAM_LIMITS.scaled(speedup)}
            sender = Dispatcher(session_maker, {TG: channel}, clock.now, limits)

            assert await asyncio.wait_for(sender.drain(TG), 30) == 70
        finally:
            await channel.stop()

        assert server.flood_429s == 0
        sends = [c for c in server.calls_of("sendMessage") if c.status == 200]
        assert len(sends) == 70
        # The replies went first, before their own chats' prompts queued earlier; each of those
        # prompts follows once its chat's interval allows (0.2 s: some 30 sends later).
        order = [(c.params["chat_id"], c.params["text"]) for c in sends]
        assert set(order[:10]) == {(chat, "已收到") for chat in answered}  # in flight together
        for chat in answered:
            assert [t for c, t in order if c == chat] == ["已收到", "本周动态"]
