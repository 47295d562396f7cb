"""The DingTalk channel against the loopback DingTalk: Stream frames acked only once handled,
a redelivery handled once, outsiders and groups, the HTTP callback (signature, bounds), what a
message is sent as (action cards, numbered text, files), a QPS limit, configuration and the
web server's route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.channels.base import status_of
from bot.channels.dingtalk import OUTSIDER, DingtalkChannel, parts_of
from bot.channels.dingtalk_stream import StreamState
from bot.config import DingtalkChannelConfig, load_config, write_default_config
from bot.errors import ChannelError, ConfigError
from bot.ratelimit import DINGTALK_LIMITS
from bot.runner import Service
from bot.wiring import build_channels, channel_limits, web_application
from handlers.types import ChannelKind, ChatKey, Choice, Document, Incoming, Outgoing
from tests.bot.channels.dingtalk_server import APP_KEY, APP_SECRET, SAFETY, DingtalkServer
from tests.bot.channels.dingtalk_support import dingtalk_channel, served

DT = ChannelKind.DINGTALK
STAFF = "staff0001"
TO = ChatKey(DT, STAFF, STAFF)
GROUP = "cidGroupOfTheHall=="


def now() -> datetime:
    return datetime(2022, 9, 14, 2, tzinfo=UTC)


@pytest.fixture
async def server() -> AsyncIterator[DingtalkServer]:
    async with DingtalkServer() as peer:
        yield peer


class Recorder:
    def __init__(self, delay: float = 0.0, fail: int = 0) -> None:
        self.handled: list[Incoming] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self, incoming: Incoming) -> None:
        await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database down")
        self.handled.append(incoming)


# --- Stream mode ---------------------------------------------------------------------------


async def test_a_message_is_acked_only_once_handled(server: DingtalkServer) -> None:
    recorder = Recorder(delay=0.3)
    async with served(dingtalk_channel(server, now), recorder):
        message_id = await server.push_text(STAFF, "你好")
        await asyncio.sleep(0.1)
        assert message_id in server.pending  # not acked while the engine works on it
        await server.wait_ack(message_id)
    assert [(i.key, i.text) for i in recorder.handled] == [(TO, "你好")]


async def test_a_redelivered_message_is_handed_on_once(server: DingtalkServer) -> None:
    recorder = Recorder(delay=0.3)
    async with served(dingtalk_channel(server, now), recorder):
        data = server.robot_message(STAFF, "一次", msg_id="msg-42")
        first = await server.push(data, message_id="frame-a")
        second = await server.push(data, message_id="frame-b")
        await server.wait_ack(first)
        await server.wait_ack(second)
    assert [i.update_id for i in recorder.handled] == ["msg:msg-42"]


async def test_a_refused_app_secret_shows_in_status(server: DingtalkServer) -> None:
    channel = dingtalk_channel(server, now, app_secret="wrong")
    await channel.start()
    try:
        assert channel.stream is not None
        async with asyncio.timeout(SAFETY):
            await channel.stream.wait_state(StreamState.REFUSED)
        assert status_of(channel) == "unauthenticated"
    finally:
        await channel.stop()
    assert channel.status == "stopped"


async def test_an_outsider_is_a_stranger_whose_text_is_not_read(server: DingtalkServer) -> None:
    recorder = Recorder()
    async with served(dingtalk_channel(server, now), recorder):
        alone = server.robot_message(STAFF, "K7QM-3XTR-9HWD")
        in_group = server.robot_message(STAFF, "K7QM-3XTR-9HWD", group=GROUP)
        for data in (alone, in_group):
            data["senderStaffId"] = ""
            await server.wait_ack(await server.push(data))
    [incoming] = recorder.handled  # one-to-one: nothing could answer them, dropped
    assert incoming.key.chat_id == GROUP and incoming.key.user_id.startswith(OUTSIDER)
    assert incoming.text is None
    channel = dingtalk_channel(server, now)
    outsider = ChatKey(DT, OUTSIDER + "x", OUTSIDER + "x")
    with pytest.raises(ChannelError) as raised:
        await channel.send(outsider, Outgoing("你好"))
    assert raised.value.retry_after is None


async def test_groups_hand_on_mentions_and_answer_in_the_group(server: DingtalkServer) -> None:
    recorder = Recorder()
    channel = dingtalk_channel(server, now)
    async with served(channel, recorder):
        mentioned = server.robot_message(STAFF, " 本周无动态", group=GROUP)
        unmentioned = {**server.robot_message(STAFF, "闲聊", group=GROUP), "isInAtList": False}
        await server.wait_ack(await server.push(mentioned))
        await server.wait_ack(await server.push(unmentioned))
        [incoming] = recorder.handled
        assert (incoming.key, incoming.text) == (ChatKey(DT, GROUP, STAFF), "本周无动态")
        await channel.send(incoming.key, Outgoing("已记录"))
    assert server.sent[-1]["openConversationId"] == GROUP


async def test_groups_ignored_when_configured(server: DingtalkServer) -> None:
    recorder = Recorder()
    async with served(dingtalk_channel(server, now, groups="ignore"), recorder):
        await server.wait_ack(await server.push(server.robot_message(STAFF, "你好", group=GROUP)))
    assert recorder.handled == []


# --- callback mode -------------------------------------------------------------------------


async def test_the_http_callback_checks_the_sign_and_answers_once_handled(
    server: DingtalkServer,
) -> None:
    recorder = Recorder()
    channel = dingtalk_channel(server, now, mode="callback")
    async with served(channel, recorder) as url:
        assert channel.status == "running"
        assert await server.post_http_callback(url, server.robot_message(STAFF, "你好")) == 200
        forged = server.robot_message(STAFF, "伪造")
        assert await server.post_http_callback(url, forged, secret="not-the-secret") == 403
        old = str(int(now().timestamp() * 1000))
        assert await server.post_http_callback(url, forged, timestamp=old) == 403
        async with aiohttp.ClientSession() as session, session.post(url, data=b"{}") as response:
            assert response.status == 403  # no sign at all
    assert [i.text for i in recorder.handled] == ["你好"]


# --- sending -------------------------------------------------------------------------------


def choices(count: int) -> tuple[Choice, ...]:
    return tuple(Choice(f"c{n}", f"选项{n}") for n in range(1, count + 1))


@pytest.mark.parametrize(("count", "keys"), [(1, ["sampleText"]), (6, ["sampleText"])])
async def test_one_or_more_than_five_choices_go_as_numbered_text(
    server: DingtalkServer, count: int, keys: list[str]
) -> None:
    channel = dingtalk_channel(server, now)
    async with served(channel, None):
        await channel.send(TO, Outgoing("请选择：", choices(count)))
    assert [body["msgKey"] for body in server.sent] == keys
    assert server.sent[0]["msgParam"]["content"].endswith(f"  {count}. 选项{count}")


async def test_two_to_five_choices_go_as_an_action_card(server: DingtalkServer) -> None:
    channel = dingtalk_channel(server, now)
    async with served(channel, None):
        await channel.send(TO, Outgoing("请选择要做的事：", choices(4)))
    assert [body["msgKey"] for body in server.sent] == ["sampleText", "sampleActionCard4"]
    card = server.sent[1]["msgParam"]
    assert card["actionTitle4"] == "选项4"
    assert card["actionURL1"].startswith("dtmd://dingtalkclient/sendMessage?content=")


async def test_a_document_is_uploaded_and_sent_as_a_file(server: DingtalkServer) -> None:
    channel = dingtalk_channel(server, now)
    document = Document("窗口工作周报-2022年第31期.docx", b"PK\x03\x04 draft", "application/zip")
    message = Outgoing("本期草稿", document=document)
    assert len(parts_of(message)) == 2
    async with served(channel, None):
        await channel.send(TO, message)
    assert [body["msgKey"] for body in server.sent] == ["sampleText", "sampleFile"]
    assert server.sent[1]["msgParam"]["fileName"] == "窗口工作周报-2022年第31期.docx"
    assert server.sent[1]["msgParam"]["fileType"] == "docx"


async def test_a_long_text_goes_in_parts(server: DingtalkServer) -> None:
    text = "长" * 5000
    channel = dingtalk_channel(server, now)
    async with served(channel, None):
        await channel.send(TO, Outgoing(text))
    assert "".join(body["msgParam"]["content"] for body in server.sent) == text


async def test_a_qps_limit_asks_the_outbox_to_wait_a_second(server: DingtalkServer) -> None:
    channel = dingtalk_channel(server, now)
    async with served(channel, None):
        server.fail_next(
            "/v1.0/robot/oToMessages/batchSend",
            403,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        )
        with pytest.raises(ChannelError) as raised:
            await channel.send(TO, Outgoing("你好"))
        assert raised.value.retry_after == 1.0
        await channel.send(TO, Outgoing("你好"))
    assert len(server.sent) == 1


# --- configuration and zhoubao run ---------------------------------------------------------


def test_from_config_needs_the_app_secret_in_the_environment() -> None:
    config = DingtalkChannelConfig.model_validate({"enabled": True, "app_key": APP_KEY})
    with pytest.raises(ConfigError, match="ZHOUBAO_DINGTALK_APP_SECRET"):
        DingtalkChannel.from_config(config, environ={})
    channel = DingtalkChannel.from_config(
        config, environ={"ZHOUBAO_DINGTALK_APP_SECRET": APP_SECRET}
    )
    assert (channel.mode, channel.robot_code) == ("stream", APP_KEY)


def test_the_configuration_refuses_dingtalk_without_its_app_key(tmp_path: Path) -> None:
    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write('\n[channels.dingtalk]\nenabled = true\nmode = "stream"\n')
    with pytest.raises(ConfigError, match=r"channels\.dingtalk\.app_key"):
        load_config(path)


async def test_zhoubao_run_serves_the_dingtalk_callback_in_callback_mode(
    app: App, server: DingtalkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHOUBAO_DINGTALK_APP_SECRET", APP_SECRET)
    section = DingtalkChannelConfig.model_validate(
        {
            "enabled": True,
            "app_key": APP_KEY,
            "mode": "callback",
            "api_url": server.base_url,
            "oapi_url": server.base_url,
            "callback_path": "/dt/cb",
        }
    )
    channels_config = app.config.channels.model_copy(update={"dingtalk": section})
    app.config = app.config.model_copy(update={"channels": channels_config})
    channels = build_channels(app)
    channel = channels[DT]
    assert isinstance(channel, DingtalkChannel)
    assert channel_limits()[DT] == DINGTALK_LIMITS
    await channel.start()
    test_server = TestServer(web_application(app, channels, Service(app, channels, holder="t")))
    await test_server.start_server()
    try:
        url = str(test_server.make_url("/dt/cb"))
        forged = server.robot_message(STAFF, "你好")
        assert await server.post_http_callback(url, forged, secret="wrong") == 403
        assert status_of(channel) == "running"
    finally:
        await test_server.close()
        await channel.stop()


def test_every_state_the_new_channels_report_has_words_in_zhoubao_status() -> None:
    from typing import get_args

    from bot import messages
    from bot.channels import dingtalk, wecom

    reported = {*dingtalk._STATES.values(), "running", *get_args(wecom.Status)}
    assert reported <= set(messages.CHANNEL_STATES)


async def test_stopping_with_a_message_not_handled_leaves_it_to_be_delivered_again(
    server: DingtalkServer,
) -> None:
    channel = dingtalk_channel(server, now)
    async with served(channel, None):  # nothing pumps: the message waits
        message_id = await server.push_text(STAFF, "还没处理")
        await asyncio.sleep(0.2)
        assert message_id in server.pending
        loop = asyncio.get_running_loop()
        started = loop.time()
    assert loop.time() - started < 3.0  # stopped at once, not after the stream's grace
    assert message_id in server.pending  # not acked 200: DingTalk delivers it again
