"""Strangers cost almost nothing: a counter per chat, one answer per interval, no backlog."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bot.app import App, open_app
from bot.outbox import Dispatcher
from bot.ratelimit import TELEGRAM_LIMITS
from handlers import messages
from handlers.types import ChannelKind, ChatKey, Incoming
from scheduler.clock import FrozenClock
from storage.models import (
    ChatGuard,
    ConversationState,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    Role,
)
from storage.repositories import guards
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.fakes import test_config as config_on
from tests.handlers.support import COMMERCE, HEALTH, HOUSING, open_week


@dataclass(frozen=True)
class Rows:
    outbox: int
    ledger: int
    guards: int
    states: int
    members: int


async def _rows(app: App) -> Rows:
    async with app.sessions() as session:
        counts = [
            int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (OutboxMessage, ProcessedUpdate, ChatGuard, ConversationState, Member)
        ]
    return Rows(*counts)


async def _guard_messages(app: App, person: Person) -> int:
    async with app.sessions() as session:
        guard = await guards.get_guard(session, person.key.channel.value, person.key.chat_id)
    return 0 if guard is None else guard.messages


async def test_stranger_answered_once_per_interval_when_sending_600_messages(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    stranger = Person(app, "路人甲", channel)
    before = await _rows(app)

    answers = [texts(await stranger.send(f"你好{n}")) for n in range(600)]

    assert answers[0] == [messages.WELCOME_UNBOUND]
    assert answers[1:] == [[]] * 599
    after = await _rows(app)
    assert after.outbox - before.outbox == 1  # one answer, not 600
    assert after.ledger == before.ledger  # no ledger row for a stranger's message
    assert after.guards - before.guards == 1
    assert after.states == before.states
    assert await _guard_messages(app, stranger) == 600

    clock.advance(app.settings.stranger_reply_interval)
    assert texts(await stranger.send("还在吗")) == [messages.WELCOME_UNBOUND]


async def test_stranger_message_answered_once_when_delivered_twice(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    stranger = Person(app, "路人甲", channel)
    hello = stranger.incoming("你好", update_id="telegram-1")

    first = await app.engine.handle(hello)
    clock.advance(app.settings.stranger_reply_interval / 2)
    second = await app.engine.handle(hello)

    assert [e.message.text for e in first] == [messages.WELCOME_UNBOUND]
    assert second == []


async def test_stranger_reply_interval_taken_from_configuration(
    tmp_path: Path, db_url: str, clock: FrozenClock, channel: RecordingChannel
) -> None:
    config = config_on(tmp_path, db_url)
    security = config.security.model_copy(update={"stranger_reply_minutes": 1})
    app = await open_app(config.model_copy(update={"security": security}), clock.now)
    try:
        stranger = Person(app, "路人甲", channel)
        await stranger.send("你好")
        clock.advance(app.settings.stranger_reply_interval)
        again = texts(await stranger.send("你好"))
    finally:
        await app.close()

    assert app.settings.stranger_reply_interval.total_seconds() == 60
    assert again == [messages.WELCOME_UNBOUND]


def _stranger_update(n: int, message: int, app: App) -> Incoming:
    key = ChatKey(ChannelKind.CONSOLE, f"stranger-{n}", f"stranger-{n}")
    return Incoming(key, f"s{n}-{message}", app.clock(), f"你好 {message}", None, f"陌生人{n}")


async def test_flood_from_1000_strangers_grows_tables_by_a_row_per_chat_and_delays_no_prompt(
    app: App, channel: RecordingChannel
) -> None:
    staff = [
        await bound_person(app, channel, f"{window}的人", Role.STAFF, window)
        for window in (COMMERCE, HEALTH, HOUSING)
    ]
    for person in staff:
        await person.inbox()
    before = await _rows(app)

    # One stranger sends 600 messages (the finding), 1,000 others 3 each, all at once.
    flooder = Person(app, "路人甲", channel)
    updates = [flooder.incoming(f"第{n}条") for n in range(600)]
    updates += [_stranger_update(n, m, app) for m in range(3) for n in range(1000)]
    await asyncio.gather(*(app.engine.handle(update) for update in updates))
    after = await _rows(app)

    print(f"\nflood rows before {before}\nflood rows after  {after}")
    assert after.outbox - before.outbox == 1001  # one welcome per chat, none per extra message
    assert after.ledger == before.ledger  # no ledger row at all for strangers' messages
    assert after.guards - before.guards == 1001  # a counter per chat
    assert (after.states, after.members) == (before.states, before.members)
    assert await _guard_messages(app, flooder) == 600

    # The week opens: each window's prompt is queued behind the 1,001 welcomes. Sent oldest
    # first at Telegram's pace (scaled), it waits for one message per stranger chat, never for
    # a chat's backlog: before, the flooder's 600 answers filled every read of 200 due rows
    # while its own chat was paced at one a second, and the prompts waited behind them.
    await open_week(app)
    telegram = RecordingChannel(ChannelKind.CONSOLE)
    dispatcher = Dispatcher(
        app.sessions, {ChannelKind.CONSOLE: telegram}, app.clock, {ChannelKind.CONSOLE: FAST}
    )
    await dispatcher.drain(ChannelKind.CONSOLE)

    order = [to.chat_id for to, _ in telegram.sent]
    prompts = [order.index(person.key.chat_id) for person in staff]
    assert len(order) == len(set(order)) == 1001 + len(staff)  # one message per chat
    assert prompts == [1001, 1002, 1003]


FAST = TELEGRAM_LIMITS.scaled(200)  # Telegram's limits, 200 times faster, to keep the test short


async def test_window_prompt_leaves_in_its_first_pacing_slot_after_a_stranger_sent_600(
    app: App, channel: RecordingChannel
) -> None:
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.inbox()
    flooder = Person(app, "路人甲", channel)
    for n in range(600):
        await app.engine.handle(flooder.incoming(f"第{n}条"))
    await open_week(app)
    telegram = RecordingChannel(ChannelKind.CONSOLE)
    dispatcher = Dispatcher(
        app.sessions,
        {ChannelKind.CONSOLE: telegram},
        app.clock,
        {ChannelKind.CONSOLE: TELEGRAM_LIMITS},  # the real pace: 29 a second, 1 per chat a second
    )

    started = time.monotonic()
    await dispatcher.drain(ChannelKind.CONSOLE)
    elapsed = time.monotonic() - started

    # Before: the flooder's 600 answers, paced at one a second, came first (about 10 minutes).
    assert [to.chat_id for to, _ in telegram.sent] == [flooder.key.chat_id, staff.key.chat_id]
    assert elapsed < 2  # two chats, one message each: the second slot is 1/29 s after the first
