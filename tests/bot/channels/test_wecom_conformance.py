"""The intake user stories on WeCom: the channel against the loopback WeCom server, every
message a real encrypted callback to the callback URL, every answer a message/send call."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

import bot.outbox
from bot.app import App
from bot.outbox import Dispatcher
from bot.ratelimit import RateLimiter
from handlers import messages
from handlers.types import ChannelKind
from scheduler.clock import FrozenClock
from storage.models import Role
from tests.bot.channels.conformance import STORIES, Received, Story, split_numbered
from tests.bot.channels.wecom_server import WecomServer
from tests.bot.channels.wecom_support import served, wecom_channel
from tests.fakes import invite_code

WC = ChannelKind.WECOM


class WecomDriver:
    """People on WeCom: members of the corp, tapping card buttons or typing numbers."""

    def __init__(self, app: App, server: WecomServer, url: str, dispatcher: Dispatcher) -> None:
        self.app = app
        self._server = server
        self._url = url
        self._dispatcher = dispatcher
        self._users: dict[str, str] = {}
        self._read: dict[str, int] = {}
        self._last: dict[str, Received] = {}
        self._cards: dict[str, tuple[str, dict[str, str]]] = {}  # task_id, label: key
        self._moments = itertools.count(int(time.time()))

    def user(self, who: str) -> str:
        if who not in self._users:
            self._users[who] = f"user{len(self._users) + 1}"
            self._server.users.add(self._users[who])
        return self._users[who]

    async def send(self, who: str, text: str) -> None:
        status, _ = await self._server.post_callback(
            self._url, self._server.text_message(self.user(who), text)
        )
        assert status == 200

    async def choose(self, who: str, label: str) -> None:
        card = self._cards.get(who)
        if card is not None and label in card[1]:
            task_id, keys = card
            message = self._server.button_tap(
                self.user(who), keys[label], task_id, create_time=next(self._moments)
            )
            status, _ = await self._server.post_callback(self._url, message)
            assert status == 200
            return
        await self.send(who, str(self._last[who].labels.index(label) + 1))

    async def inbox(self, who: str) -> list[Received]:
        await self._dispatcher.drain(WC)
        user = self.user(who)
        mine = [body for body in self._server.sent if body["touser"] == user]
        new = mine[self._read.get(who, 0) :]
        self._read[who] = len(mine)
        received: list[Received] = []
        joining = False  # the next text continues the last one (a text split in parts)
        for body in new:
            kind = body["msgtype"]
            if kind == "text":
                message = split_numbered(body["text"]["content"])
                if message.labels:  # numbered choices: typed, not tapped
                    self._cards.pop(who, None)
                if joining and received:
                    last = received.pop()
                    message = Received(last.text + "\n\n" + message.text, message.labels)
                received.append(message)
                joining = len(body["text"]["content"].encode()) > 1900
                continue
            joining = False
            last = received.pop() if received else Received("")
            if kind == "template_card":
                card: dict[str, Any] = body["template_card"]
                buttons = card["button_list"]
                self._cards[who] = (card["task_id"], {b["text"]: b["key"] for b in buttons})
                received.append(Received(last.text, tuple(b["text"] for b in buttons)))
            elif kind == "file":
                name = self._server.uploads[body["file"]["media_id"]][0]
                received.append(Received(last.text, last.labels, name))
        for message in received:
            if message.labels:
                self._last[who] = message
        return received


@pytest.fixture
async def driver(app: App, clock: FrozenClock) -> AsyncIterator[WecomDriver]:
    async with WecomServer() as server:
        channel = wecom_channel(server, clock.now)
        async with served(channel, app.engine.handle) as site:
            dispatcher = Dispatcher(app.sessions, {WC: channel}, app.clock)
            yield WecomDriver(app, server, site.url, dispatcher)


@pytest.mark.parametrize("story", list(STORIES))
async def test_story_on_wecom(driver: WecomDriver, story: str) -> None:
    await STORIES[story](Story(driver))


async def test_outbox_waits_out_a_45009_and_a_redelivered_callback_is_handled_once(
    app: App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = clock.now()
    monkeypatch.setattr(
        bot.outbox,
        "RateLimiter",
        functools.partial(RateLimiter, clock=lambda: (clock.now() - start).total_seconds()),
    )
    async with WecomServer() as server:
        channel = wecom_channel(server, clock.now)
        async with served(channel, app.engine.handle) as site:
            dispatcher = Dispatcher(app.sessions, {WC: channel}, app.clock)
            driver = WecomDriver(app, server, site.url, dispatcher)
            user = driver.user("商务厅小王")
            code = await invite_code(app, Role.STAFF, "商务厅")
            server.fail_next("/cgi-bin/message/send", 45009)
            message = server.text_message(user, code, msg_id="9001")
            assert (await server.post_callback(site.url, message))[0] == 200
            assert (await server.post_callback(site.url, message))[0] == 200  # WeCom's resend
            assert await dispatcher.drain(WC) == 0  # 45009: nothing arrived
            clock.advance(timedelta(seconds=59))
            assert await dispatcher.drain(WC) == 0  # WeCom counts per minute: still waiting
            clock.advance(timedelta(seconds=1))
            assert await dispatcher.drain(WC) > 0
            received = await driver.inbox("商务厅小王")
    assert received[0].text == messages.bound("商务厅窗口", Role.STAFF)
    assert [m.text for m in received].count(received[0].text) == 1  # bound once, told once
