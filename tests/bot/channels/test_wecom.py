"""The WeCom channel against the loopback WeCom server: the callback URL (its check, forged
and oversized callbacks refused, a redelivery handled once, the answer before WeCom's 5 s),
what a message is sent as (cards, numbered text, split text, files uploaded once), a rate
limit waited out, per-member pacing, configuration and the web server's route."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.channels.base import status_of
from bot.channels.wecom import MAX_BODY, WecomChannel, parts_of
from bot.channels.wecom_crypto import WecomCrypto
from bot.config import WecomChannelConfig
from bot.errors import ChannelError, ConfigError
from bot.ratelimit import WECOM_LIMITS
from bot.runner import Service
from bot.wiring import build_channels, channel_limits, web_application
from handlers.types import ChannelKind, ChatKey, Choice, Document, Incoming, Outgoing
from tests.bot.channels.wecom_server import CORP_ID, ENCODING_AES_KEY, WecomServer
from tests.bot.channels.wecom_support import served, wecom_channel

WC = ChannelKind.WECOM
TO = ChatKey(WC, "ZhangSan", "ZhangSan")


def now() -> datetime:
    return datetime(2022, 9, 14, 2, tzinfo=UTC)


@pytest.fixture
async def server() -> AsyncIterator[WecomServer]:
    async with WecomServer() as peer:
        yield peer


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.handled: list[Incoming] = []
        self.delay = delay

    async def __call__(self, incoming: Incoming) -> None:
        await asyncio.sleep(self.delay)
        self.handled.append(incoming)


# --- the callback URL ----------------------------------------------------------------------


async def test_url_check_answers_the_echostr_decrypted(server: WecomServer) -> None:
    async with served(wecom_channel(server, now), None) as site:
        assert await server.check_url(site.url, "1288432023552776189") == (
            200,
            "1288432023552776189",
        )


async def test_a_text_and_a_tap_become_updates_answered_200(server: WecomServer) -> None:
    recorder = Recorder()
    async with served(wecom_channel(server, now), recorder) as site:
        status, body = await server.post_callback(site.url, server.text_message("LiSi", "你好"))
        assert (status, body) == (200, "")
        tap = server.button_tap("LiSi", "submit", "zb_1", create_time=1663120000)
        assert (await server.post_callback(site.url, tap))[0] == 200
        assert (await server.post_callback(site.url, server.enter_agent("LiSi")))[0] == 200
    key = ChatKey(WC, "LiSi", "LiSi")
    assert [(i.key, i.text, i.choice) for i in recorder.handled] == [
        (key, "你好", None),
        (key, None, "submit"),
    ]  # enter_agent is not handed on


async def test_a_redelivered_callback_is_handed_on_once(server: WecomServer) -> None:
    recorder = Recorder(delay=0.3)
    async with served(wecom_channel(server, now), recorder) as site:
        message = server.text_message("LiSi", "第一条", msg_id="42")
        answers = await asyncio.gather(
            server.post_callback(site.url, message), server.post_callback(site.url, message)
        )
        assert [status for status, _ in answers] == [200, 200]
    assert [i.update_id for i in recorder.handled] == ["msg:42"]


async def test_the_answer_comes_within_wecoms_5_s_while_the_engine_is_slow(
    server: WecomServer,
) -> None:
    recorder = Recorder(delay=2.0)
    channel = wecom_channel(server, now, callback_wait=0.2)
    async with served(channel, recorder) as site:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, _ = await server.post_callback(site.url, server.text_message("LiSi", "慢"))
        assert status == 200 and loop.time() - started < 1.0
        await asyncio.sleep(2.2)
    assert [i.text for i in recorder.handled] == ["慢"]  # still handled, after the answer


async def test_forged_callbacks_are_refused_and_logged_without_content(
    server: WecomServer, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    forger = WecomCrypto("another-token", ENCODING_AES_KEY, CORP_ID)
    other_corp = WecomCrypto(server.crypto.token, ENCODING_AES_KEY, "ww0000000000000000")
    caplog.set_level(logging.WARNING)
    async with served(wecom_channel(server, now), recorder) as site:
        secret_text = "机密内容不应出现在日志里"
        message = server.text_message("LiSi", secret_text)
        assert (await server.post_callback(site.url, message, crypto=forger))[0] == 403
        assert (await server.post_callback(site.url, message, crypto=other_corp))[0] == 403
        forged = await server.post_callback(site.url, message, forged_signature="0" * 40)
        assert forged[0] == 403
        assert (await server.check_url(site.url.replace("callback", "callback")))[0] == 200
        async with aiohttp.ClientSession() as session:
            async with session.post(site.url, data=b"x" * (MAX_BODY + 1)) as response:
                assert response.status == 413
            async with session.post(site.url, data=b"<xml></xml>") as response:
                assert response.status == 400
    assert recorder.handled == []
    assert "wecom callback refused" in caplog.text
    assert secret_text not in caplog.text


async def test_a_picture_is_an_update_without_text(server: WecomServer) -> None:
    recorder = Recorder()
    picture = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>LiSi</FromUserName>"
        "<CreateTime>1663120000</CreateTime><MsgType>image</MsgType>"
        "<PicUrl>http://x/y.png</PicUrl><MediaId>m1</MediaId><MsgId>77</MsgId>"
        f"<AgentID>{server.agent_id}</AgentID></xml>"
    )
    async with served(wecom_channel(server, now), recorder) as site:
        assert (await server.post_callback(site.url, picture))[0] == 200
    assert [(i.update_id, i.text, i.choice) for i in recorder.handled] == [("msg:77", None, None)]


# --- sending -------------------------------------------------------------------------------


def choices(count: int) -> tuple[Choice, ...]:
    return tuple(Choice(f"c{n}", f"选项{n}") for n in range(1, count + 1))


async def test_up_to_six_choices_go_as_a_card_with_unique_task_ids(server: WecomServer) -> None:
    channel = wecom_channel(server, now)
    async with served(channel, None):
        message = Outgoing("请选择要做的事：", choices(6))
        await channel.send(TO, message)
        await channel.send(TO, message)
    kinds = [body["msgtype"] for body in server.sent]
    assert kinds == ["text", "template_card", "text", "template_card"]
    cards = [body["template_card"] for body in server.sent if body["msgtype"] == "template_card"]
    assert [b["key"] for b in cards[0]["button_list"]] == [f"c{n}" for n in range(1, 7)]
    assert cards[0]["task_id"] != cards[1]["task_id"]


async def test_more_than_six_choices_go_as_numbered_text(server: WecomServer) -> None:
    channel = wecom_channel(server, now)
    async with served(channel, None):
        await channel.send(TO, Outgoing("请选择：", choices(7)))
    assert [body["msgtype"] for body in server.sent] == ["text"]
    assert server.sent[0]["text"]["content"].endswith("  7. 选项7")


def test_choices_a_card_cannot_carry_go_as_numbered_text() -> None:
    long_label = (Choice("a", "很" * 21), Choice("b", "短"))
    long_key = (Choice("x" * 1025, "甲"), Choice("b", "乙"))
    same_keys = (Choice("a", "甲"), Choice("a", "乙"))
    for offered in (long_label, long_key, same_keys):
        assert [part.kind for part in parts_of(Outgoing("请选择：", offered))] == ["text"]


async def test_a_long_text_goes_in_parts_of_2048_bytes(server: WecomServer) -> None:
    text = "长" * 5000
    message = Outgoing(text)
    assert len(parts_of(message)) == 8  # 15,000 bytes, 682 characters a part
    channel = wecom_channel(server, now)
    async with served(channel, None):
        await channel.send(TO, message)
    sent = [body["text"]["content"] for body in server.sent]
    assert "".join(sent) == text
    assert all(len(part.encode()) <= 2048 for part in sent)


async def test_a_document_is_uploaded_once_and_its_media_id_reused(server: WecomServer) -> None:
    channel = wecom_channel(server, now)
    document = Document("窗口工作周报-2022年第31期.docx", b"PK\x03\x04 draft", "application/zip")
    async with served(channel, None):
        await channel.send(TO, Outgoing("本期草稿", document=document))
        await channel.send(ChatKey(WC, "LiSi", "LiSi"), Outgoing("本期草稿", document=document))
    assert [body["msgtype"] for body in server.sent] == ["text", "file", "text", "file"]
    assert len(server.calls_to("/cgi-bin/media/upload")) == 1
    assert next(iter(server.uploads.values()))[0] == "窗口工作周报-2022年第31期.docx"


async def test_a_rate_limit_asks_the_outbox_to_wait_a_minute(server: WecomServer) -> None:
    channel = wecom_channel(server, now)
    async with served(channel, None):
        server.fail_next("/cgi-bin/message/send", 45009)
        with pytest.raises(ChannelError) as raised:
            await channel.send(TO, Outgoing("你好"))
        assert raised.value.retry_after == 60.0
        await channel.send(TO, Outgoing("你好"))  # waited out: goes through
    assert [body["text"]["content"] for body in server.sent] == ["你好"]


async def test_a_token_expired_mid_run_is_fetched_again(server: WecomServer) -> None:
    channel = wecom_channel(server, now)
    async with served(channel, None):
        await channel.send(TO, Outgoing("一"))
        server.expire_tokens()
        await channel.send(TO, Outgoing("二"))
    assert server.token_calls == 2
    assert len(server.sent) == 2


async def test_a_refused_secret_shows_in_status(server: WecomServer) -> None:
    server.secret = "rotated"
    channel = wecom_channel(server, now)
    async with served(channel, None):
        assert channel.status == "unauthenticated"
        assert channel.last_error is not None and "40001" in channel.last_error
    assert channel.status == "stopped"


def test_each_member_gets_at_most_29_messages_a_minute() -> None:
    assert 60 / WECOM_LIMITS.per_chat_interval < 30


# --- configuration -------------------------------------------------------------------------


def config(**values: object) -> WecomChannelConfig:
    return WecomChannelConfig.model_validate(
        {"enabled": True, "corp_id": CORP_ID, "agent_id": 1000002, **values}
    )


ENVIRON = {
    "ZHOUBAO_WECOM_SECRET": "s",
    "ZHOUBAO_WECOM_CALLBACK_TOKEN": "t",
    "ZHOUBAO_WECOM_AES_KEY": ENCODING_AES_KEY,
}


def test_from_config_reads_the_secrets_from_the_environment() -> None:
    channel = WecomChannel.from_config(
        config(base_url="https://wecom.example.gov.cn/"), environ=ENVIRON
    )
    assert channel.base_url == "https://wecom.example.gov.cn"
    assert channel.crypto.token == "t"


@pytest.mark.parametrize("missing", sorted(ENVIRON))
def test_from_config_names_a_missing_secret(missing: str) -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        WecomChannel.from_config(config(), environ=environ)


def test_from_config_refuses_an_aes_key_that_is_not_one() -> None:
    with pytest.raises(ConfigError, match="EncodingAESKey"):
        WecomChannel.from_config(config(), environ={**ENVIRON, "ZHOUBAO_WECOM_AES_KEY": "short"})


def test_the_configuration_file_enables_wecom(tmp_path: Path) -> None:
    from bot.config import load_config, write_default_config

    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write('\n[channels.wecom]\nenabled = true\ncorp_id = "ww1"\nagent_id = 1000002\n')
    loaded = load_config(path).channels.wecom
    assert (loaded.enabled, loaded.corp_id, loaded.callback_path) == (
        True,
        "ww1",
        "/wecom/callback",
    )


def test_the_configuration_refuses_wecom_without_its_agent_id(tmp_path: Path) -> None:
    from bot.config import load_config, write_default_config

    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write('\n[channels.wecom]\nenabled = true\ncorp_id = "ww1"\n')
    with pytest.raises(ConfigError, match=r"channels\.wecom\.agent_id"):
        load_config(path)


def test_a_secret_in_the_wecom_section_is_refused(tmp_path: Path) -> None:
    from bot.config import load_config, write_default_config

    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write('\n[channels.wecom]\nsecret = "abc"\n')
    with pytest.raises(ConfigError, match=r"channels\.wecom\.secret"):
        load_config(path)


# --- zhoubao run: the channel built from the configuration, its route on the web server ----


async def test_zhoubao_run_builds_wecom_and_serves_its_callback_url(
    app: App, server: WecomServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZHOUBAO_WECOM_CALLBACK_TOKEN", server.crypto.token)
    monkeypatch.setenv("ZHOUBAO_WECOM_SECRET", server.secret)
    section = config(base_url=server.base_url, callback_path="/wx/cb")
    channels_config = app.config.channels.model_copy(update={"wecom": section})
    app.config = app.config.model_copy(update={"channels": channels_config})
    channels = build_channels(app)
    channel = channels[WC]
    assert isinstance(channel, WecomChannel)
    assert channel_limits()[WC] == WECOM_LIMITS
    service = Service(app, channels, holder="test-holder")
    test_server = TestServer(web_application(app, channels, service))
    await test_server.start_server()
    try:
        url = str(test_server.make_url("/wx/cb"))
        assert await server.check_url(url, "echo-1") == (200, "echo-1")
    finally:
        await test_server.close()
    await channel.start()
    try:
        assert status_of(channel) == "running"
    finally:
        await channel.stop()
