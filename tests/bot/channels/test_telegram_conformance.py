"""The intake user stories on Telegram: the real python-telegram-bot, the loopback Bot API."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

import bot.outbox
from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.outbox import Dispatcher
from bot.ratelimit import RateLimiter
from handlers.types import ChannelKind, Incoming
from scheduler.clock import FrozenClock
from tests.bot.channels.conformance import STORIES, Received, Story
from tests.bot.channels.telegram_server import TelegramServer
from tests.bot.channels.test_telegram import next_update, telegram_channel

TG = ChannelKind.TELEGRAM


def _received(params: dict[str, Any], document: str | None) -> Received:
    rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
    text = params.get("text", params.get("caption", "")) or ""
    return Received(text, tuple(row[0]["text"] for row in rows), document)


class TelegramDriver:
    """People on Telegram: each a private chat with the bot, tapping inline buttons."""

    def __init__(
        self,
        app: App,
        server: TelegramServer,
        updates: AsyncGenerator[Incoming, None],
        dispatcher: Dispatcher,
    ) -> None:
        self.app = app
        self._server = server
        self._updates = updates
        self._dispatcher = dispatcher
        self._chats: dict[str, int] = {}
        self._read: dict[int, int] = {}
        self._buttons: dict[int, dict[str, str]] = {}  # label -> callback data, last offered

    def _chat(self, who: str) -> int:
        if who not in self._chats:
            self._chats[who] = 7000 + len(self._chats)
            self._read[self._chats[who]] = 0
        return self._chats[who]

    async def _handle_through(self, update_id: int) -> None:
        """Hand polled updates to the engine up to `update_id`.

        After a restart the last batch before it comes again (it was never confirmed): the
        engine's ledger drops those, as in production.
        """
        while True:
            incoming = await next_update(self._updates)
            await self.app.engine.handle(incoming)
            if incoming.update_id == str(update_id):
                return

    async def send(self, who: str, text: str) -> None:
        chat = self._chat(who)
        await self._handle_through(self._server.inject_message(chat, chat, text, first_name=who))

    async def choose(self, who: str, label: str) -> None:
        chat = self._chat(who)
        data = self._buttons[chat][label]
        message_id = len(self._server.calls)
        await self._handle_through(self._server.inject_callback(chat, chat, data, message_id))

    async def inbox(self, who: str) -> list[Received]:
        chat = self._chat(who)
        await self._dispatcher.drain(TG)
        calls = self._server.sent_to(chat)
        new, self._read[chat] = calls[self._read[chat] :], len(calls)
        received = []
        for call in new:
            document = call.files["document"][0] if "document" in call.files else None
            received.append(_received(call.params, document))
            rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
            if rows:
                self._buttons[chat] = {row[0]["text"]: row[0]["callback_data"] for row in rows}
        return received


@pytest.fixture
async def driver(
    app: App,
    telegram_server: TelegramServer,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[TelegramDriver]:
    start = clock.now()
    monkeypatch.setattr(
        bot.outbox,
        "RateLimiter",
        functools.partial(RateLimiter, clock=lambda: (clock.now() - start).total_seconds()),
    )
    channel: TelegramChannel = telegram_channel(telegram_server, app.sessions, clock)
    await channel.start()
    updates = channel.updates()
    try:
        yield TelegramDriver(
            app, telegram_server, updates, Dispatcher(app.sessions, {TG: channel}, app.clock)
        )
    finally:
        await updates.aclose()
        await channel.stop()


@pytest.mark.parametrize("story", list(STORIES))
async def test_story_on_telegram(driver: TelegramDriver, story: str) -> None:
    await STORIES[story](Story(driver))
