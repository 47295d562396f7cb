"""The intake user stories on WeChat: the real puppet-service client, the Node Wechaty peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import App
from bot.channels.wechaty import WechatChannel
from bot.outbox import Dispatcher
from handlers.types import ChannelKind, Incoming
from tests.bot.channels.conformance import STORIES, Received, Story, split_numbered
from tests.bot.channels.test_wechat import WAIT, started
from tests.bot.channels.wechat_peer import WechatPeer, wechat_peer

__all__ = ["wechat_peer"]  # fixture

WX = ChannelKind.WECHAT


class WechatDriver:
    """People on WeChat: contacts of the mock account, typing the numbers of the choices."""

    def __init__(
        self,
        app: App,
        peer: WechatPeer,
        updates: AsyncIterator[Incoming],
        dispatcher: Dispatcher,
        ids: dict[str, str],
    ) -> None:
        self.app = app
        self._peer = peer
        self._updates = updates
        self._dispatcher = dispatcher
        self._ids = ids  # contact name -> WeChat id
        self._read: dict[str, int] = {}
        self._last: dict[str, Received] = {}

    async def send(self, who: str, text: str) -> None:
        await self._peer.say(who, text)
        await self.app.engine.handle(await asyncio.wait_for(anext(self._updates), WAIT))

    async def choose(self, who: str, label: str) -> None:
        await self.send(who, str(self._last[who].labels.index(label) + 1))

    async def inbox(self, who: str) -> list[Received]:
        await self._dispatcher.drain(WX)
        contact = self._ids[who]
        mine = [m for m in await self._peer.sent() if m.to == contact and m.room is None]
        new = mine[self._read.get(who, 0) :]
        self._read[who] = len(mine)
        received: list[Received] = []
        for message in new:
            if message.file is not None:
                # A document goes as its text, then the file: one message for the person.
                last = received.pop() if received else Received("")
                received.append(Received(last.text, last.labels, message.file["name"]))
                continue
            received.append(split_numbered(message.text or ""))
        for message in received:
            if message.labels:
                self._last[who] = message
        return received


@pytest.fixture
async def driver(app: App, wechat_peer: WechatPeer) -> AsyncIterator[WechatDriver]:
    if wechat_peer.process is None:
        wechat_peer.start()
    await wechat_peer.clear()
    bot = await started(wechat_peer)
    contacts = (await asyncio.to_thread(wechat_peer.health_sync))["contacts"]
    ids = {contact["name"]: contact["id"] for contact in contacts}
    channel: WechatChannel = bot.channel
    try:
        dispatcher = Dispatcher(app.sessions, {WX: channel}, app.clock)
        yield WechatDriver(app, wechat_peer, bot.updates, dispatcher, ids)
    finally:
        await channel.stop()


@pytest.mark.parametrize("story", list(STORIES))
async def test_story_on_wechat(driver: WechatDriver, story: str) -> None:
    await STORIES[story](Story(driver))
