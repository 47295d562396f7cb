"""The WeChat channel: the real Python puppet-service client against a real Node peer.

The peer (tests/channels/wechat_peer/peer.mjs) is wechaty-puppet-service's PuppetServer in
front of wechaty-puppet-mock on 127.0.0.1; it starts once for this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import App
from bot.channels.console import format_outgoing
from bot.channels.wechaty import WechatChannel, strip_mention
from bot.config import WechatChannelConfig
from bot.errors import ChannelError, ConfigError
from bot.outbox import Dispatcher
from handlers import messages
from handlers.services.delivery import enqueue
from handlers.types import ChannelKind, ChatKey, Choice, Document, Envelope, Incoming, Outgoing
from scheduler.clock import FrozenClock
from scheduler.jobs import open_issue
from storage.models import Item, OutboxMessage, Role
from tests.channels.outbox_scenarios import paused_leader
from tests.channels.wechat_peer import (
    BOT_ID,
    BOT_NAME,
    CHEN,
    ROOM,
    WANG,
    ZHANG,
    WechatPeer,
    wechat_peer,
)
from tests.fakes import app, channel, clock, invite_code

__all__ = ["app", "channel", "clock", "wechat_peer"]  # fixtures used here

WAIT = 5.0  # bound on every wait for the network


async def eventually(check: Callable[[], bool], within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@dataclass
class Bot:
    """A started WechatChannel and one iterator over its updates."""

    channel: WechatChannel
    updates: AsyncIterator[Incoming]

    async def receive(self, within: float = WAIT) -> Incoming:
        return await asyncio.wait_for(anext(self.updates), within)

    async def nothing_within(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await self.receive(seconds)


async def started(peer: WechatPeer, **options: object) -> Bot:
    channel = WechatChannel(
        peer.endpoint,
        peer.token,
        min_backoff=0.05,
        max_backoff=0.4,
        **options,  # type: ignore[arg-type]
    )
    await channel.start()
    await channel.wait_logged_in(WAIT)
    return Bot(channel, channel.updates())


@pytest.fixture
async def peer(wechat_peer: WechatPeer) -> WechatPeer:
    """The module's peer, running (a restart test may have left it stopped) and with no sends."""
    if wechat_peer.process is None:
        wechat_peer.start()
    await wechat_peer.clear()
    return wechat_peer


@pytest.fixture
async def bot(peer: WechatPeer) -> AsyncIterator[Bot]:
    started_bot = await started(peer)
    try:
        yield started_bot
    finally:
        await started_bot.channel.stop()


def to(contact: str) -> ChatKey:
    return ChatKey(ChannelKind.WECHAT, contact, contact)


# --- incoming -------------------------------------------------------------------------------


async def test_contact_text_arrives_as_incoming(bot: Bot, peer: WechatPeer) -> None:
    message_id = await peer.say("商务厅小王", "你好，我是商务厅窗口")

    update = await bot.receive()

    assert update.key == ChatKey(ChannelKind.WECHAT, WANG, WANG)
    assert update.text == "你好，我是商务厅窗口"
    assert update.update_id == message_id
    assert update.display_name == "商务厅小王"
    assert update.received_at.tzinfo is not None
    assert bot.channel.status == "logged_in"
    assert bot.channel.self_id == BOT_ID


async def test_own_sends_are_not_delivered_back(bot: Bot, peer: WechatPeer) -> None:
    await bot.channel.send(to(ZHANG), Outgoing("收到"))
    await peer.wait_sent(1)
    await peer.say(ZHANG, "下一条")

    # The echo of "收到" came first; the first update must be the contact's message.
    update = await bot.receive()
    assert (update.key.user_id, update.text) == (ZHANG, "下一条")


async def test_room_message_handed_on_only_when_bot_mentioned(bot: Bot, peer: WechatPeer) -> None:
    await peer.say(WANG, "大家好", room=ROOM)
    await peer.say(ZHANG, "@其他人 你看下", room=ROOM)
    mention_id = await peer.say(ZHANG, "提交动态", room=ROOM, mention=True)

    update = await bot.receive()

    assert update.key == ChatKey(ChannelKind.WECHAT, ROOM, ZHANG)
    assert update.text == "提交动态"
    assert update.update_id == mention_id
    await bot.nothing_within(0.2)


async def test_room_messages_all_handed_on_when_rooms_all(peer: WechatPeer) -> None:
    bot = await started(peer, rooms="all")
    try:
        await peer.say(WANG, "大家好", room=ROOM)
        await peer.say(CHEN, "请大家周五前报送", room=ROOM, mention=True)

        first, second = await bot.receive(), await bot.receive()
    finally:
        await bot.channel.stop()

    assert (first.key, first.text) == (ChatKey(ChannelKind.WECHAT, ROOM, WANG), "大家好")
    assert (second.key, second.text) == (
        ChatKey(ChannelKind.WECHAT, ROOM, CHEN),
        "请大家周五前报送",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"@{BOT_NAME}\u2005提交", "提交"),
        (f"@{BOT_NAME} 1", "1"),
        (f"好的 @{BOT_NAME}", "好的"),
        ("没有提到", "没有提到"),
    ],
)
def test_strip_mention_removes_name_and_wechat_space(text: str, expected: str) -> None:
    assert strip_mention(text, BOT_NAME) == expected


# --- outgoing -------------------------------------------------------------------------------


async def test_numbered_choices_sent_as_text(bot: Bot, peer: WechatPeer) -> None:
    message = Outgoing("请选择：", (Choice("submit", "提交动态"), Choice("status", "查看状态")))

    await bot.channel.send(to(WANG), message)

    sent = await peer.wait_sent(1)
    assert [(s.to, s.text) for s in sent] == [(WANG, "请选择：\n  1. 提交动态\n  2. 查看状态")]
    assert sent[0].text == format_outgoing(message)


async def test_send_to_room_goes_to_room(bot: Bot, peer: WechatPeer) -> None:
    await bot.channel.send(ChatKey(ChannelKind.WECHAT, ROOM, ZHANG), Outgoing("已收到"))

    sent = await peer.wait_sent(1)
    assert [(s.to, s.room, s.text) for s in sent] == [(ROOM, ROOM, "已收到")]


EXACT_TEXTS = {
    "chinese_emoji": "本周商务厅窗口办件 1,234 件 👍🎉，满意率 99.8%！（二）👨‍👩‍👧",
    "long": ("政务服务“一网通办”持续推进。" * 400)[:5000],
    "markup": "<b>粗体</b> *星号* _下划线_ [链接](http://x) `代码` & &amp; \\ 末尾",
}


@pytest.mark.parametrize("name", list(EXACT_TEXTS))
async def test_text_arrives_exactly_both_ways(bot: Bot, peer: WechatPeer, name: str) -> None:
    text = EXACT_TEXTS[name]

    await bot.channel.send(to(CHEN), Outgoing(text))
    await peer.say(CHEN, text)

    assert [s.text for s in await peer.wait_sent(1)] == [text]
    assert (await bot.receive()).text == text


async def test_document_arrives_as_file_message(bot: Bot, peer: WechatPeer) -> None:
    content = b"PK\x03\x04" + bytes(range(256)) * 64
    document = Document(
        "第31期周报.docx",
        content,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )

    await bot.channel.send(to(CHEN), Outgoing("本期周报草稿", document=document))

    sent = await peer.wait_sent(2)
    assert [(s.to, s.text) for s in sent] == [(CHEN, "本期周报草稿"), (CHEN, None)]
    assert sent[1].file == {
        "name": "第31期周报.docx",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


async def test_send_to_unknown_contact_fails_permanently(bot: Bot) -> None:
    with pytest.raises(ChannelError) as caught:
        await bot.channel.send(to("wxid_nobody"), Outgoing("你好"))

    assert caught.value.retry_after is None


# --- connection -----------------------------------------------------------------------------


async def test_wrong_token_fails_clearly_without_crashing(peer: WechatPeer) -> None:
    channel = WechatChannel(peer.endpoint, "not-the-token", min_backoff=0.05)
    await channel.start()
    try:
        with pytest.raises(ChannelError, match="UNAUTHENTICATED"):
            await channel.wait_logged_in(WAIT)
        assert channel.status == "unauthenticated"
        assert channel.last_error is not None and "UNAUTHENTICATED" in channel.last_error
        with pytest.raises(ChannelError) as caught:
            await channel.send(to(WANG), Outgoing("你好"))
        assert caught.value.retry_after == 0  # kept in the outbox until the token is fixed
    finally:
        await channel.stop()
    status: str = channel.status  # (mypy narrowed the property above)
    assert status == "stopped"


async def test_unreachable_endpoint_keeps_retrying_and_send_is_transient() -> None:
    from tests.channels.wechat_peer import free_port

    channel = WechatChannel(f"127.0.0.1:{free_port()}", "token", min_backoff=0.01, max_backoff=0.05)
    await channel.start()
    try:
        await eventually(lambda: channel.status == "disconnected")
        with pytest.raises(ChannelError) as caught:
            await channel.send(to(WANG), Outgoing("你好"))
        assert caught.value.retry_after == 0
    finally:
        await channel.stop()


def test_from_config_reads_token_from_environment_only() -> None:
    config = WechatChannelConfig(enabled=True, endpoint="127.0.0.1:8788", rooms="ignore")

    channel = WechatChannel.from_config(config, environ={"ZHOUBAO_WECHAT_TOKEN": "secret"})

    assert (channel.endpoint, channel.rooms, channel.status) == (
        "127.0.0.1:8788",
        "ignore",
        "stopped",
    )
    with pytest.raises(ConfigError, match="ZHOUBAO_WECHAT_TOKEN"):
        WechatChannel.from_config(config, environ={})


async def test_missing_extra_fails_clearly_only_when_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "wechaty_puppet_service", None)  # as if not installed
    channel = WechatChannel("127.0.0.1:8788", "token")  # building it needs no client

    with pytest.raises(ConfigError, match=r"zhoubao\[wechat\]"):
        await channel.start()
    assert channel.status == "stopped"


async def test_message_queued_while_peer_down_arrives_after_reconnection(
    peer: WechatPeer, app: App, clock: FrozenClock
) -> None:
    bot = await started(peer)
    dispatcher = Dispatcher(app.sessions, {ChannelKind.WECHAT: bot.channel}, clock.now)
    try:
        peer.stop()
        await eventually(lambda: not bot.channel.logged_in)

        async with app.sessions() as session, session.begin():
            await enqueue(
                session, Envelope(to(WANG), Outgoing("本周动态请于周五前报送")), clock.now()
            )
        assert await dispatcher.drain(ChannelKind.WECHAT) == 0  # down: kept for a retry
        async with app.sessions() as session:
            row = (await session.execute(select(OutboxMessage))).scalar_one()
            assert (row.status, row.attempts) == ("queued", 1)

        peer.start()
        await bot.channel.wait_logged_in(WAIT)
        clock.advance(timedelta(minutes=1))
        assert await dispatcher.drain(ChannelKind.WECHAT) == 1
    finally:
        await bot.channel.stop()

    assert [(s.to, s.text) for s in await peer.wait_sent(1)] == [(WANG, "本周动态请于周五前报送")]


async def test_updates_continue_after_reconnection(bot: Bot, peer: WechatPeer) -> None:
    peer.stop()
    await eventually(lambda: not bot.channel.logged_in)
    peer.start()
    await bot.channel.wait_logged_in(WAIT)

    await peer.say(WANG, "重连后")

    assert (await bot.receive()).text == "重连后"


# --- end to end through the engine ----------------------------------------------------------


async def test_contact_binds_submits_and_confirms_an_item(
    bot: Bot, peer: WechatPeer, app: App, clock: FrozenClock
) -> None:
    async with app.sessions() as session, session.begin():
        await open_issue(session, app.calendar, clock.now().date(), app.numbering, clock.now())
    dispatcher = Dispatcher(app.sessions, {ChannelKind.WECHAT: bot.channel}, clock.now)

    async def turn(text: str) -> list[str | None]:
        """The contact says `text`; the engine answers; return what reached WeChat."""
        before = len(await peer.sent())
        await peer.say(WANG, text)
        await app.engine.handle(await bot.receive())
        await dispatcher.drain(ChannelKind.WECHAT)
        return [s.text for s in (await peer.sent())[before:]]

    code = await invite_code(app, Role.STAFF, "商务厅")
    assert await turn(code)  # bound: a welcome and the menu
    await turn("1")  # 提交动态
    asked = await turn("1")  # the first subsection
    assert asked[-1] is not None and asked[-1].endswith(messages.ASK_TEXT)
    preview = await turn("商务厅窗口本周办理外资企业登记 12 件。")
    assert preview[-1] is not None and f". {messages.LABEL_CONFIRM}" in preview[-1]
    await turn("1")  # confirm

    async with app.sessions() as session:
        items = (await session.execute(select(Item))).scalars().all()
    assert [item.text for item in items] == ["商务厅窗口本周办理外资企业登记 12 件。"]
    assert all(message.to == WANG for message in await peer.sent())


# --- the outbox: parts remembered, one sender ------------------------------------------------


async def test_document_whose_file_fails_sends_only_the_file_again(
    bot: Bot, peer: WechatPeer, app: App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = b"PK\x03\x04 draft"
    document = Document("第31期周报.docx", content, "application/x")
    async with app.sessions() as session, session.begin():
        await enqueue(
            session, Envelope(to(CHEN), Outgoing("本期周报草稿", document=document)), clock.now()
        )
    puppet = bot.channel._puppet
    real = puppet.message_send_file

    def broken_once(*args: object) -> object:
        monkeypatch.setattr(puppet, "message_send_file", real)

        async def fail() -> None:
            raise OSError("connection reset while sending the file")

        return fail()

    monkeypatch.setattr(puppet, "message_send_file", broken_once)
    dispatcher = Dispatcher(app.sessions, {ChannelKind.WECHAT: bot.channel}, clock.now)

    assert await dispatcher.drain(ChannelKind.WECHAT) == 0  # the text went, the file failed
    async with app.sessions() as session:
        row = (await session.execute(select(OutboxMessage))).scalar_one()
        assert (row.status, row.parts_sent) == ("queued", 1)
    clock.advance(timedelta(seconds=2))
    assert await dispatcher.drain(ChannelKind.WECHAT) == 1

    sent = await peer.wait_sent(2)
    await asyncio.sleep(0.2)  # nothing more arrives
    assert [(s.to, s.text, s.file is not None) for s in await peer.sent()] == [
        (CHEN, "本期周报草稿", False),
        (CHEN, None, True),
    ]
    assert sent[1].file is not None and sent[1].file["size"] == len(content)


async def test_stopped_leader_repeats_at_most_its_send_on_the_way_over_wechat(
    bot: Bot, peer: WechatPeer, app: App, clock: FrozenClock
) -> None:
    recipients = [to(WANG), to(ZHANG), to(CHEN)]

    outcome = await paused_leader(app.sessions, clock, bot.channel, ChannelKind.WECHAT, recipients)

    await peer.wait_sent(len(recipients) + outcome.sent_by_paused)
    await asyncio.sleep(0.2)  # nothing more arrives
    reached = Counter(s.to for s in await peer.sent())
    assert set(reached) == {WANG, ZHANG, CHEN}
    assert sum(reached.values()) - len(recipients) == outcome.sent_by_paused == 1
    assert outcome.rows_sent == len(recipients)
