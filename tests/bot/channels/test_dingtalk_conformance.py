"""The intake user stories on DingTalk: the channel against the loopback DingTalk, every
message a CALLBACK frame on the Stream WebSocket (acked once committed), every answer a
batchSend; choices as action cards whose buttons send the label back, or numbered text."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import timedelta

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
from tests.bot.channels.dingtalk_server import DingtalkServer
from tests.bot.channels.dingtalk_support import dingtalk_channel, served
from tests.fakes import invite_code

DT = ChannelKind.DINGTALK


class DingtalkDriver:
    """People on DingTalk: staff of the organisation chatting one-to-one with the robot."""

    def __init__(self, app: App, server: DingtalkServer, dispatcher: Dispatcher) -> None:
        self.app = app
        self._server = server
        self._dispatcher = dispatcher
        self._staff: dict[str, str] = {}
        self._read: dict[str, int] = {}
        self._last: dict[str, Received] = {}
        self._carded: dict[str, bool] = {}

    def staff(self, who: str) -> str:
        if who not in self._staff:
            self._staff[who] = f"staff{len(self._staff) + 100}"
            self._server.staff.add(self._staff[who])
        return self._staff[who]

    async def send(self, who: str, text: str) -> None:
        message_id = await self._server.push_text(self.staff(who), text)
        await self._server.wait_ack(message_id)  # acked once the engine committed it

    async def choose(self, who: str, label: str) -> None:
        if self._carded.get(who):
            await self.send(who, label)  # the card's button sends its label
            return
        await self.send(who, str(self._last[who].labels.index(label) + 1))

    async def inbox(self, who: str) -> list[Received]:
        await self._dispatcher.drain(DT)
        staff = self.staff(who)
        mine = [body for body in self._server.sent if staff in body.get("userIds", ())]
        new = mine[self._read.get(who, 0) :]
        self._read[who] = len(mine)
        received: list[Received] = []
        joining = False
        for body in new:
            key, param = body["msgKey"], body["msgParam"]
            if key == "sampleText":
                message = split_numbered(param["content"])
                if message.labels:
                    self._carded[who] = False
                if joining and received:
                    last = received.pop()
                    message = Received(last.text + "\n\n" + message.text, message.labels)
                received.append(message)
                joining = len(param["content"].encode()) > 5800
                continue
            joining = False
            last = received.pop() if received else Received("")
            if key.startswith("sampleActionCard"):
                count = int(key.removeprefix("sampleActionCard"))
                labels = tuple(param[f"actionTitle{n}"] for n in range(1, count + 1))
                self._carded[who] = True
                received.append(Received(last.text, labels))
            elif key == "sampleFile":
                received.append(Received(last.text, last.labels, param["fileName"]))
        for message in received:
            if message.labels:
                self._last[who] = message
        return received


@pytest.fixture
async def driver(app: App, clock: FrozenClock) -> AsyncIterator[DingtalkDriver]:
    async with DingtalkServer() as server:
        channel = dingtalk_channel(server, clock.now)
        async with served(channel, app.engine.handle):
            dispatcher = Dispatcher(app.sessions, {DT: channel}, app.clock)
            yield DingtalkDriver(app, server, dispatcher)


@pytest.mark.parametrize("story", list(STORIES))
async def test_story_on_dingtalk(driver: DingtalkDriver, story: str) -> None:
    await STORIES[story](Story(driver))


async def test_outbox_waits_out_a_qps_limit_and_a_redelivered_frame_is_handled_once(
    app: App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = clock.now()
    monkeypatch.setattr(
        bot.outbox,
        "RateLimiter",
        functools.partial(RateLimiter, clock=lambda: (clock.now() - start).total_seconds()),
    )
    async with DingtalkServer() as server:
        channel = dingtalk_channel(server, clock.now)
        async with served(channel, app.engine.handle):
            dispatcher = Dispatcher(app.sessions, {DT: channel}, app.clock)
            driver = DingtalkDriver(app, server, dispatcher)
            staff = driver.staff("商务厅小王")
            code = await invite_code(app, Role.STAFF, "商务厅")
            server.fail_next(
                "/v1.0/robot/oToMessages/batchSend",
                403,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            )
            data = server.robot_message(staff, code, msg_id="msg-9001")
            await server.wait_ack(await server.push(data, message_id="frame-1"))
            await server.wait_ack(await server.push(data, message_id="frame-2"))  # again
            assert await dispatcher.drain(DT) == 0  # the QPS limit: nothing arrived
            clock.advance(timedelta(seconds=1))
            assert await dispatcher.drain(DT) > 0
            received = await driver.inbox("商务厅小王")
    assert received[0].text == messages.bound("商务厅窗口", Role.STAFF)
    assert [m.text for m in received].count(received[0].text) == 1
