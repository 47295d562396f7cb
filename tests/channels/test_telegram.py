"""The Telegram channel: the real python-telegram-bot against a Bot API server on 127.0.0.1.

`telegram_server` stands in for Telegram (see tests/channels/telegram_server.py); nothing
here is mocked between the adapter and HTTP. Database tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import bot.outbox
from bot.app import App
from bot.channels.base import Channel
from bot.channels.telegram import (
    SECRET_HEADER,
    TelegramChannel,
    run_telegram,
    split_text,
    telegram_length,
)
from bot.config import TelegramChannelConfig
from bot.errors import ChannelError, ConfigError
from bot.outbox import Dispatcher
from bot.ratelimit import RateLimiter
from handlers import messages
from handlers.framework.binding import normalise_code
from handlers.registry import STAFF_MENU
from handlers.types import ChannelKind, ChatKey, Choice, Document, Incoming, Outgoing
from scheduler.clock import FrozenClock
from scheduler.jobs import open_issue
from storage.models import Role
from storage.repositories import cursors, issues, submissions
from tests.channels.telegram_server import TelegramServer
from tests.fakes import invite_code

Sessions = async_sessionmaker[AsyncSession]
Client = TestClient[web.Request, web.Application]
Webhook = tuple[TelegramChannel, Client, list[Incoming]]
TG = ChannelKind.TELEGRAM
SECRET = "s3cret-Webhook_token"


def telegram_channel(
    server: TelegramServer, sessions: Sessions, clock: FrozenClock, **options: Any
) -> TelegramChannel:
    return TelegramChannel(
        server.token,
        sessions=sessions,
        clock=clock.now,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        poll_timeout=1,
        **options,
    )


@pytest.fixture
async def tg(
    telegram_server: TelegramServer, session_maker: Sessions, clock: FrozenClock
) -> AsyncIterator[TelegramChannel]:
    channel = telegram_channel(telegram_server, session_maker, clock)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


async def next_update(updates: AsyncIterator[Incoming]) -> Incoming:
    return await asyncio.wait_for(anext(updates), 2)


def key(chat_id: int, user_id: int | None = None) -> ChatKey:
    return ChatKey(TG, str(chat_id), str(user_id if user_id is not None else chat_id))


# --- Translation. --------------------------------------------------------------------------


async def test_channel_is_a_channel_when_typed(tg: TelegramChannel) -> None:
    channel: Channel = tg  # mypy checks the protocol here

    assert channel.kind == ChannelKind.TELEGRAM


async def test_message_becomes_incoming_when_user_sends_text(
    tg: TelegramChannel, telegram_server: TelegramServer, clock: FrozenClock
) -> None:
    update_id = telegram_server.inject_message(42, 7, "你好", first_name="王", last_name="小明")

    incoming = await next_update(tg.updates())

    assert incoming == Incoming(
        key=key(42, 7),
        update_id=str(update_id),
        received_at=clock.now(),
        text="你好",
        display_name="王 小明",
    )


async def test_callback_becomes_choice_and_is_answered_when_button_tapped(
    tg: TelegramChannel, telegram_server: TelegramServer, clock: FrozenClock
) -> None:
    update = telegram_server.callback_update(42, 7, "submit", message_id=5)
    telegram_server.inject_update(update)

    incoming = await next_update(tg.updates())

    assert incoming == Incoming(
        key=key(42, 7),
        update_id=str(update["update_id"]),
        received_at=clock.now(),
        choice="submit",
        display_name="小王",
    )
    answers = telegram_server.calls_of("answerCallbackQuery")
    assert [call.params["callback_query_id"] for call in answers] == [
        update["callback_query"]["id"]
    ]


async def test_start_code_passes_through_when_deep_link_opened(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    telegram_server.inject_message(42, 42, "/start ABCD2345")

    incoming = await next_update(tg.updates())

    assert incoming.text == "/start ABCD2345"
    assert normalise_code(incoming.text) == "ABCD2345"


# --- Sending. ------------------------------------------------------------------------------


async def test_choices_become_inline_keyboard_when_message_has_choices(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    choices = (Choice("submit", "提交动态"), Choice("help", "帮助"))

    await tg.send(key(42), Outgoing("请选择：", choices))

    [call] = telegram_server.sent_to(42)
    assert call.method == "sendMessage"
    assert call.params["text"] == "请选择："
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "提交动态", "callback_data": "submit"}],
            [{"text": "帮助", "callback_data": "help"}],
        ]
    }


async def test_long_text_splits_at_paragraphs_when_over_4096_characters(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    paragraphs = [f"第{n:02d}段" + "动" * 95 for n in range(50)]  # 100 characters each
    text = "\n\n".join(paragraphs)
    assert len(text) > 5000

    await tg.send(key(42), Outgoing(text, (Choice("ok", "好"),)))

    calls = telegram_server.sent_to(42)
    pieces = [call.params["text"] for call in calls]
    assert len(pieces) == 2
    assert all(len(piece) <= 4096 for piece in pieces)
    assert "\n\n".join(pieces) == text
    assert all(piece.startswith("第") for piece in pieces)  # cut between paragraphs
    assert [call.params.get("reply_markup") is not None for call in calls] == [False, True]


def test_split_text_cuts_at_lines_then_anywhere_when_no_paragraph_fits() -> None:
    lines = "\n".join(["行" * 9] * 3)  # three lines of 9
    assert split_text(lines, 20) == ["行" * 9 + "\n" + "行" * 9, "行" * 9]
    assert split_text("字" * 25, 10) == ["字" * 10, "字" * 10, "字" * 5]
    assert split_text("短", 10) == ["短"]


def test_split_text_counts_utf16_when_text_has_emoji() -> None:
    pieces = split_text("😀" * 5, 4)

    assert pieces == ["😀😀", "😀😀", "😀"]
    assert all(telegram_length(piece) <= 4 for piece in pieces)


async def test_markup_characters_arrive_verbatim_when_text_has_them(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    text = "<b>粗体</b> *星号* _下划线_ [链接](http://example.com) `代码` 😀"

    await tg.send(key(42), Outgoing(text))

    [call] = telegram_server.sent_to(42)
    assert call.params["text"] == text
    assert "parse_mode" not in call.params
    assert "reply_markup" not in call.params


async def test_document_sent_with_filename_and_bytes_when_message_has_document(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    content = b"PK\x03\x04" + bytes(range(256)) * 10
    document = Document("周报草稿.docx", content, "application/octet-stream")

    await tg.send(key(42), Outgoing("本期草稿", document=document))

    [call] = telegram_server.sent_to(42)
    assert call.method == "sendDocument"
    assert call.params["caption"] == "本期草稿"
    assert call.files["document"] == ("周报草稿.docx", content)


async def test_text_goes_first_when_too_long_for_a_caption(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    text = "说明" * 600  # 1,200 characters: more than a caption holds
    document = Document("a.docx", b"PK", "application/octet-stream")

    await tg.send(key(42), Outgoing(text, (Choice("ok", "好"),), document))

    calls = telegram_server.sent_to(42)
    assert [call.method for call in calls] == ["sendMessage", "sendDocument"]
    assert calls[0].params["text"] == text
    assert "caption" not in calls[1].params
    assert "reply_markup" in calls[1].params  # the keyboard goes on the last message


# --- Errors. -------------------------------------------------------------------------------


async def test_send_raises_retry_after_when_telegram_answers_429(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    telegram_server.fail_next("sendMessage", 429, retry_after=3)

    with pytest.raises(ChannelError) as caught:
        await tg.send(key(42), Outgoing("你好"))

    assert caught.value.retry_after == 3.0
    assert telegram_server.token not in caught.value.detail
    assert len(telegram_server.calls_of("sendMessage")) == 1  # the library did not retry


async def test_send_raises_transient_when_telegram_answers_502(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    telegram_server.fail_next("sendMessage", 502)

    with pytest.raises(ChannelError) as caught:
        await tg.send(key(42), Outgoing("你好"))

    assert caught.value.retry_after == 0
    assert len(telegram_server.calls_of("sendMessage")) == 1


async def test_send_raises_permanent_when_user_blocked_bot(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    telegram_server.block_chat(42)

    with pytest.raises(ChannelError) as caught:
        await tg.send(key(42), Outgoing("你好"))

    assert caught.value.retry_after is None
    assert "blocked" in caught.value.detail


async def test_send_raises_permanent_when_choice_value_too_long(tg: TelegramChannel) -> None:
    with pytest.raises(ChannelError) as caught:
        await tg.send(key(42), Outgoing("选", (Choice("x" * 65, "太长"),)))

    assert caught.value.retry_after is None


# --- Polling and its stored offset. -------------------------------------------------------


async def test_polling_resumes_from_stored_offset_when_restarted(
    telegram_server: TelegramServer, session_maker: Sessions, clock: FrozenClock
) -> None:
    first = telegram_channel(telegram_server, session_maker, clock)
    await first.start()
    updates = first.updates()
    confirmed = telegram_server.inject_message(42, 42, "一")
    assert (await next_update(updates)).update_id == str(confirmed)
    unconfirmed = telegram_server.inject_message(42, 42, "二")
    # Asking for the next update says the first was handled: its offset is stored.
    assert (await next_update(updates)).update_id == str(unconfirmed)
    await updates.aclose()  # a crash while the second is being handled
    await first.stop()
    async with session_maker() as session:
        assert await cursors.get_cursor(session, "telegram") == str(confirmed + 1)

    second = telegram_channel(telegram_server, session_maker, clock)
    await second.start()
    try:
        redelivered = await next_update(second.updates())
    finally:
        await second.stop()

    assert (redelivered.update_id, redelivered.text) == (str(unconfirmed), "二")
    offsets = [c.params.get("offset") for c in telegram_server.calls_of("getUpdates")]
    assert offsets[-1] == confirmed + 1


async def test_stop_ends_updates_when_polling_waits(tg: TelegramChannel) -> None:
    updates = tg.updates()
    waiting = asyncio.create_task(anext(updates, None))
    await asyncio.sleep(0.05)  # let the long poll start

    await tg.stop()

    assert await asyncio.wait_for(waiting, 2) is None


async def test_webhook_is_deleted_when_polling_starts(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    [call] = telegram_server.calls_of("deleteWebhook")
    assert call.params["drop_pending_updates"] is False


@pytest.mark.parametrize("status", [502, 429])
async def test_polling_goes_on_when_get_updates_fails(
    telegram_server: TelegramServer, session_maker: Sessions, clock: FrozenClock, status: int
) -> None:
    channel = telegram_channel(telegram_server, session_maker, clock, poll_backoff=0.01)
    await channel.start()
    telegram_server.fail_next("getUpdates", status, retry_after=1)
    update_id = telegram_server.inject_message(42, 42, "还在")
    try:
        incoming = await next_update(channel.updates())
    finally:
        await channel.stop()

    assert incoming.update_id == str(update_id)
    assert [c.status for c in telegram_server.calls_of("getUpdates")][:2] == [status, 200]


async def test_run_telegram_retries_update_when_handling_fails(
    tg: TelegramChannel, telegram_server: TelegramServer
) -> None:
    update_id = telegram_server.inject_message(42, 42, "一次")
    attempts: list[str] = []
    done = asyncio.Event()

    async def handle(incoming: Incoming) -> None:
        attempts.append(incoming.update_id)
        if len(attempts) == 1:
            raise RuntimeError("database briefly down")
        done.set()

    stop = asyncio.Event()
    pump = asyncio.create_task(run_telegram(tg, handle, stop, retry_delay=0.01))
    await asyncio.wait_for(done.wait(), 2)
    stop.set()
    await asyncio.wait_for(pump, 2)

    assert attempts == [str(update_id), str(update_id)]


async def test_updates_of_one_poll_arrive_as_one_batch_confirmed_after_it(
    tg: TelegramChannel, telegram_server: TelegramServer, session_maker: Sessions
) -> None:
    ids = [telegram_server.inject_message(chat, chat, "你好") for chat in (61, 62, 63)]
    batches = tg.update_batches()

    batch = await asyncio.wait_for(anext(batches), 2)
    async with session_maker() as session:
        before = await cursors.get_cursor(session, "telegram")
    waiting = asyncio.ensure_future(anext(batches))  # handled: ask for the next
    await asyncio.sleep(0.1)
    async with session_maker() as session:
        after = await cursors.get_cursor(session, "telegram")
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    await batches.aclose()

    assert [incoming.update_id for incoming in batch] == [str(i) for i in ids]
    assert (before, after) == (None, str(ids[-1] + 1))


async def test_run_telegram_commits_a_poll_of_several_chats_together(
    app: App, telegram_server: TelegramServer, clock: FrozenClock
) -> None:
    channel = telegram_channel(telegram_server, app.sessions, clock)
    await channel.start()
    chats = range(71, 79)
    for chat in chats:
        telegram_server.inject_message(chat, chat, "你好")
    commits: list[int] = []
    handled = asyncio.Event()

    async def handle(incoming: Incoming) -> None:
        await app.engine.handle(incoming)
        commits.append(1)
        if len(commits) == len(chats):
            handled.set()

    counted = Counted(app)
    stop = asyncio.Event()
    pump = asyncio.create_task(run_telegram(channel, handle, stop))
    try:
        await asyncio.wait_for(handled.wait(), 5)
    finally:
        stop.set()
        await pump
        await channel.stop()
        counted.close()

    assert counted.engine_commits == 1  # eight chats' first messages, one transaction


class Counted:
    """Counts the commits of transactions that wrote to the update ledger or chat guards."""

    def __init__(self, app: App) -> None:
        self.engine_commits = 0
        self._engine = app.database.sync_engine
        self._ledger_written = False
        event.listen(self._engine, "before_cursor_execute", self._seen)
        event.listen(self._engine, "commit", self._committed)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(("INSERT INTO processed_updates", "INSERT INTO chat_guards")):
            self._ledger_written = True

    def _committed(self, conn: Any) -> None:
        if self._ledger_written:
            self.engine_commits += 1
            self._ledger_written = False

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)
        event.remove(self._engine, "commit", self._committed)


# --- Webhook. ------------------------------------------------------------------------------


@pytest.fixture
async def webhook(
    telegram_server: TelegramServer, session_maker: Sessions, clock: FrozenClock
) -> AsyncIterator[Webhook]:
    channel = telegram_channel(
        telegram_server,
        session_maker,
        clock,
        mode="webhook",
        webhook_url="https://zhoubao.example.org/telegram/webhook",
        webhook_secret=SECRET,
    )
    await channel.start()
    app = web.Application()
    app.add_routes(channel.webhook_routes("/telegram/webhook"))
    handed_on: list[Incoming] = []

    async def handle(incoming: Incoming) -> None:
        handed_on.append(incoming)

    stop = asyncio.Event()
    pump = asyncio.create_task(run_telegram(channel, handle, stop))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        try:
            yield channel, client, handed_on
        finally:
            stop.set()
            await pump
            await channel.stop()


async def test_webhook_registered_with_secret_when_started(
    webhook: Webhook,
    telegram_server: TelegramServer,
) -> None:
    assert telegram_server.webhook["url"] == "https://zhoubao.example.org/telegram/webhook"
    assert telegram_server.webhook["secret_token"] == SECRET


async def test_webhook_hands_update_on_when_secret_is_right(
    webhook: Webhook,
    telegram_server: TelegramServer,
) -> None:
    _, client, handed_on = webhook
    update = telegram_server.message_update(42, 7, "你好")

    response = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})

    assert response.status == 200
    assert [(i.update_id, i.text) for i in handed_on] == [(str(update["update_id"]), "你好")]


async def test_webhook_answers_callback_when_button_tapped(
    webhook: Webhook,
    telegram_server: TelegramServer,
) -> None:
    _, client, handed_on = webhook
    update = telegram_server.callback_update(42, 7, "help", message_id=3)

    response = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})

    assert response.status == 200
    assert [i.choice for i in handed_on] == ["help"]
    assert len(telegram_server.calls_of("answerCallbackQuery")) == 1


@pytest.mark.parametrize("headers", [{SECRET_HEADER: "wrong"}, {}], ids=["wrong", "missing"])
async def test_webhook_refuses_update_when_secret_is_wrong_or_missing(
    webhook: Webhook,
    telegram_server: TelegramServer,
    headers: dict[str, str],
) -> None:
    _, client, handed_on = webhook
    refused = telegram_server.message_update(42, 7, "伪造")
    accepted = telegram_server.message_update(42, 7, "真的")

    response = await client.post("/telegram/webhook", json=refused, headers=headers)
    after = await client.post("/telegram/webhook", json=accepted, headers={SECRET_HEADER: SECRET})

    assert (response.status, after.status) == (403, 200)
    assert [i.text for i in handed_on] == ["真的"]


async def test_webhook_rejects_body_when_not_json(
    webhook: Webhook,
) -> None:
    _, client, handed_on = webhook

    response = await client.post(
        "/telegram/webhook", data=b"not json", headers={SECRET_HEADER: SECRET}
    )

    assert response.status == 400
    assert handed_on == []


# --- Building from the configuration. ---------------------------------------------------


def test_from_config_reads_token_from_environment_when_polling(
    session_maker: Sessions, clock: FrozenClock
) -> None:
    config = TelegramChannelConfig(enabled=True)

    channel = TelegramChannel.from_config(
        config,
        sessions=session_maker,
        clock=clock.now,
        environ={"ZHOUBAO_TELEGRAM_TOKEN": "42:abc"},
    )

    assert (channel.bot.token, channel.mode) == ("42:abc", "polling")


def test_from_config_reads_token_file_when_configured(
    session_maker: Sessions, clock: FrozenClock, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("42:fromfile\n", "utf-8")
    config = TelegramChannelConfig(enabled=True, token_file=tmp_path / "token")

    channel = TelegramChannel.from_config(
        config, sessions=session_maker, clock=clock.now, environ={}
    )

    assert channel.bot.token == "42:fromfile"


def test_from_config_refuses_when_token_missing(
    session_maker: Sessions, clock: FrozenClock
) -> None:
    with pytest.raises(ConfigError) as caught:
        TelegramChannel.from_config(
            TelegramChannelConfig(enabled=True), sessions=session_maker, clock=clock.now, environ={}
        )

    assert caught.value.key == "channels.telegram.token_env"
    assert "ZHOUBAO_TELEGRAM_TOKEN" in str(caught.value)


@pytest.mark.parametrize("secret", ["", "has space"], ids=["missing", "invalid"])
def test_from_config_refuses_when_webhook_secret_missing_or_invalid(
    session_maker: Sessions, clock: FrozenClock, secret: str
) -> None:
    config = TelegramChannelConfig(
        enabled=True, mode="webhook", webhook_url="https://example.org/telegram/webhook"
    )
    environ = {"ZHOUBAO_TELEGRAM_TOKEN": "42:abc", "ZHOUBAO_TELEGRAM_WEBHOOK_SECRET": secret}

    with pytest.raises(ConfigError) as caught:
        TelegramChannel.from_config(
            config, sessions=session_maker, clock=clock.now, environ=environ
        )

    assert caught.value.key == "channels.telegram.webhook_secret_env"
    assert secret not in str(caught.value) or not secret


# --- End to end through the engine and the outbox. ----------------------------------------


class TelegramUser:
    """A person on Telegram: updates go through the loopback server and the real adapter."""

    def __init__(
        self,
        app: App,
        server: TelegramServer,
        channel: TelegramChannel,
        updates: AsyncGenerator[Incoming, None],
        dispatcher: Dispatcher,
        chat_id: int,
    ) -> None:
        self.app = app
        self.server = server
        self.channel = channel
        self.updates = updates
        self.dispatcher = dispatcher
        self.chat_id = chat_id
        self._read = 0

    async def deliver(self, count: int = 1) -> list[dict[str, Any]]:
        """Hand `count` polled updates to the engine, send the outbox, return new messages."""
        for _ in range(count):
            await self.app.engine.handle(await next_update(self.updates))
        await self.dispatcher.drain(TG)
        return self.inbox()

    def inbox(self) -> list[dict[str, Any]]:
        calls = self.server.sent_to(self.chat_id)
        new, self._read = calls[self._read :], len(calls)
        return [call.params for call in new]

    async def say(self, text: str) -> list[dict[str, Any]]:
        self.server.inject_message(self.chat_id, self.chat_id, text)
        return await self.deliver()

    async def tap(self, sent: dict[str, Any], label: str) -> list[dict[str, Any]]:
        """Tap the button labelled `label` under a message we received."""
        rows = sent["reply_markup"]["inline_keyboard"]
        [data] = [row[0]["callback_data"] for row in rows if row[0]["text"] == label]
        message_id = len(self.server.calls)  # any id: the adapter only reads the chat
        self.server.inject_callback(self.chat_id, self.chat_id, data, message_id)
        return await self.deliver()


def buttons(sent: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (row[0]["text"], row[0]["callback_data"]) for row in sent["reply_markup"]["inline_keyboard"]
    ]


@pytest.fixture
def frozen_limiter(monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> None:
    """Make the dispatcher's rate limiter read the frozen clock: a 429 wait costs no real time."""
    start = clock.now()

    def monotonic() -> float:
        return (clock.now() - start).total_seconds()

    monkeypatch.setattr(bot.outbox, "RateLimiter", functools.partial(RateLimiter, clock=monotonic))


@pytest.fixture
async def telegram_user(
    app: App, telegram_server: TelegramServer, clock: FrozenClock, frozen_limiter: None
) -> AsyncIterator[Callable[[int], TelegramUser]]:
    channel = telegram_channel(telegram_server, app.sessions, clock)
    await channel.start()
    updates = channel.updates()
    dispatcher = Dispatcher(app.sessions, {TG: channel}, app.clock)
    try:
        yield functools.partial(TelegramUser, app, telegram_server, channel, updates, dispatcher)
    finally:
        await updates.aclose()
        await channel.stop()


async def _open_week(app: App) -> None:
    async with app.sessions() as session, session.begin():
        await open_issue(session, app.calendar, date(2022, 9, 14), app.numbering, app.clock())


async def test_window_submits_item_when_chatting_through_telegram(
    app: App, telegram_user: Callable[[int], TelegramUser]
) -> None:
    await _open_week(app)
    user = telegram_user(501)
    code = await invite_code(app, Role.STAFF, "商务厅")

    bound, menu = await user.say(f"/start {code}")
    assert bound["text"] == messages.bound("商务厅窗口", Role.STAFF)
    assert buttons(menu) == [(c.label, c.value) for c in STAFF_MENU]

    [ask_subsection] = await user.tap(menu, messages.LABEL_SUBMIT)
    assert ask_subsection["text"] == messages.ASK_SUBSECTION
    subsection = app.settings.template.subsections[0]
    [ask_text] = await user.tap(ask_subsection, subsection.title)
    assert ask_text["text"] == messages.ask_text(subsection.title)
    [preview] = await user.say("我厅窗口推行“一窗通办”，本周办件1200件。")
    [more] = await user.tap(preview, messages.LABEL_CONFIRM)
    assert buttons(more)[0][0] == messages.LABEL_ADD_MORE

    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        stored = [
            (i.subsection, i.text) for i, _ in await submissions.issue_items(session, issue.id)
        ]
    assert stored == [(subsection.key, "我厅窗口推行“一窗通办”，本周办件1200件。")]
    assert all("parse_mode" not in call.params for call in user.server.calls)


async def test_update_handled_once_when_delivered_twice(
    app: App, telegram_user: Callable[[int], TelegramUser], telegram_server: TelegramServer
) -> None:
    user = telegram_user(502)
    code = await invite_code(app, Role.STAFF, "商务厅")
    telegram_server.inject_message(502, 502, code, update_id=777)
    telegram_server.inject_message(502, 502, code, update_id=777)

    replies = await user.deliver(count=2)

    bound, menu = replies  # once: a second binding would answer that the code is used
    assert bound["text"] == messages.bound("商务厅窗口", Role.STAFF)
    assert buttons(menu) == [(c.label, c.value) for c in STAFF_MENU]


async def test_outbox_waits_and_delivers_once_when_telegram_answers_429(
    app: App,
    telegram_user: Callable[[int], TelegramUser],
    telegram_server: TelegramServer,
    clock: FrozenClock,
) -> None:
    user = telegram_user(503)
    code = await invite_code(app, Role.STAFF, "商务厅")
    telegram_server.fail_next("sendMessage", 429, retry_after=3)

    assert await user.say(code) == []  # the first send got 429: nothing arrived
    clock.advance(timedelta(seconds=2))
    assert await user.dispatcher.drain(TG) == 0  # still waiting
    clock.advance(timedelta(seconds=1))
    assert await user.dispatcher.drain(TG) == 2

    texts = [params["text"] for params in user.inbox()]
    assert texts[0] == messages.bound("商务厅窗口", Role.STAFF)
    assert len(texts) == 2
    bound_text = messages.bound("商务厅窗口", Role.STAFF)
    attempts = [
        c for c in telegram_server.calls_of("sendMessage") if c.params["text"] == bound_text
    ]
    assert [c.status for c in attempts] == [429, 200]
