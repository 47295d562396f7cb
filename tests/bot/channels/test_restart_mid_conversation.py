"""Restarting zhoubao in the middle of a conversation, on Telegram, WeChat, WeCom and DingTalk.

The first app and channel are closed; a new app (new engine, new connections, nothing in
memory) and a new channel object on the same database continue the conversation where the
staff member left it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import bot.outbox
from bot.outbox import Dispatcher
from bot.ratelimit import RateLimiter
from handlers import messages
from handlers.types import ChannelKind
from scheduler.clock import FrozenClock
from storage.models import Role
from tests.bot.channels.conformance import BUSINESS, FIRST, Story, stored_items
from tests.bot.channels.dingtalk_server import DingtalkServer
from tests.bot.channels.dingtalk_support import dingtalk_channel
from tests.bot.channels.dingtalk_support import served as dingtalk_served
from tests.bot.channels.telegram_server import TelegramServer
from tests.bot.channels.test_dingtalk_conformance import DingtalkDriver
from tests.bot.channels.test_telegram import telegram_channel
from tests.bot.channels.test_telegram_conformance import TelegramDriver
from tests.bot.channels.test_wechat import started
from tests.bot.channels.test_wechat_conformance import WechatDriver
from tests.bot.channels.test_wecom_conformance import WecomDriver
from tests.bot.channels.wechat_peer import WechatPeer, wechat_peer
from tests.bot.channels.wecom_server import WecomServer
from tests.bot.channels.wecom_support import served as wecom_served
from tests.bot.channels.wecom_support import wecom_channel
from tests.fakes import start_app

__all__ = ["wechat_peer"]  # fixture


@pytest.fixture(autouse=True)
def frozen_limiter(monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> None:
    start = clock.now()
    monkeypatch.setattr(
        bot.outbox,
        "RateLimiter",
        functools.partial(RateLimiter, clock=lambda: (clock.now() - start).total_seconds()),
    )


async def _begin(story: Story) -> None:
    """Bind, open the week, and stop at the text step of a new item."""
    await story.bind("商务厅小王", Role.STAFF, "商务厅")
    await story.open_week()
    await story.driver.inbox("商务厅小王")
    await story.pick("商务厅小王", messages.LABEL_SUBMIT)
    asked = await story.pick("商务厅小王", BUSINESS)
    assert asked[-1].text == messages.ask_text(BUSINESS)


async def _finish(story: Story) -> None:
    """Send the text and confirm: the conversation went on at the text step."""
    preview = await story.say("商务厅小王", FIRST)
    assert preview[-1].text == messages.preview(BUSINESS, FIRST)
    assert [m.text for m in await story.pick("商务厅小王", messages.LABEL_CONFIRM)] == [
        messages.submitted(1)
    ]
    assert await stored_items(story.driver.app) == [("商务厅窗口", "business_environment", FIRST)]


async def test_telegram_conversation_continues_at_same_step_when_restarted(
    tmp_path: Path, db_url: str, clock: FrozenClock, telegram_server: TelegramServer
) -> None:
    TG = ChannelKind.TELEGRAM
    first = await start_app(tmp_path, db_url, clock)
    channel = telegram_channel(telegram_server, first.sessions, clock)
    await channel.start()
    updates = channel.updates()
    driver = TelegramDriver(
        first, telegram_server, updates, Dispatcher(first.sessions, {TG: channel}, first.clock)
    )
    await _begin(Story(driver))
    await updates.aclose()
    await channel.stop()
    await first.close()

    second = await start_app(tmp_path, db_url, clock)
    channel = telegram_channel(telegram_server, second.sessions, clock)
    await channel.start()
    updates = channel.updates()
    try:
        driver.app = second
        driver._updates = updates
        driver._dispatcher = Dispatcher(second.sessions, {TG: channel}, second.clock)
        await _finish(Story(driver))
    finally:
        await updates.aclose()
        await channel.stop()
        await second.close()


async def test_wechat_conversation_continues_at_same_step_when_restarted(
    tmp_path: Path, db_url: str, clock: FrozenClock, wechat_peer: WechatPeer
) -> None:
    WX = ChannelKind.WECHAT
    if wechat_peer.process is None:
        wechat_peer.start()
    await wechat_peer.clear()
    contacts = wechat_peer.health_sync()["contacts"]
    ids = {contact["name"]: contact["id"] for contact in contacts}
    first = await start_app(tmp_path, db_url, clock)
    wechat = await started(wechat_peer)
    driver = WechatDriver(
        first,
        wechat_peer,
        wechat.updates,
        Dispatcher(first.sessions, {WX: wechat.channel}, first.clock),
        ids,
    )
    await _begin(Story(driver))
    await wechat.channel.stop()
    await first.close()

    second = await start_app(tmp_path, db_url, clock)
    wechat = await started(wechat_peer)
    try:
        driver.app = second
        driver._updates = wechat.updates
        driver._dispatcher = Dispatcher(second.sessions, {WX: wechat.channel}, second.clock)
        await _finish(Story(driver))
    finally:
        await wechat.channel.stop()
        await second.close()


async def test_wecom_conversation_continues_at_same_step_when_restarted(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    WC = ChannelKind.WECOM
    async with WecomServer() as server:
        first = await start_app(tmp_path, db_url, clock)
        try:
            async with wecom_served(wecom_channel(server, clock.now), first.engine.handle) as site:
                dispatcher = Dispatcher(first.sessions, {WC: site.channel}, first.clock)
                driver = WecomDriver(first, server, site.url, dispatcher)
                await _begin(Story(driver))
        finally:
            await first.close()

        second = await start_app(tmp_path, db_url, clock)
        try:
            async with wecom_served(wecom_channel(server, clock.now), second.engine.handle) as site:
                driver.app = second
                driver._url = site.url
                driver._dispatcher = Dispatcher(second.sessions, {WC: site.channel}, second.clock)
                await _finish(Story(driver))
        finally:
            await second.close()


async def test_dingtalk_conversation_continues_at_same_step_when_restarted(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    DT = ChannelKind.DINGTALK
    async with DingtalkServer() as server:
        first = await start_app(tmp_path, db_url, clock)
        try:
            channel = dingtalk_channel(server, clock.now)
            async with dingtalk_served(channel, first.engine.handle):
                dispatcher = Dispatcher(first.sessions, {DT: channel}, first.clock)
                driver = DingtalkDriver(first, server, dispatcher)
                await _begin(Story(driver))
        finally:
            await first.close()

        second = await start_app(tmp_path, db_url, clock)
        try:
            channel = dingtalk_channel(server, clock.now)
            async with dingtalk_served(channel, second.engine.handle):
                driver.app = second
                driver._dispatcher = Dispatcher(second.sessions, {DT: channel}, second.clock)
                await _finish(Story(driver))
        finally:
            await second.close()
