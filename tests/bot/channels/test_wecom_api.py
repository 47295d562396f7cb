"""The WeCom API client against the loopback WeCom server (tests/bot/channels/wecom_server.py).

Token caching and refresh (before expiry, and when WeCom expires it mid-run), every message
kind zhoubao sends, the upload of a draft, the errcodes mapped onto the outbox's retry rules,
and callbacks encrypted for real and read back into typed records; forged ones refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.channels.wecom_api import (
    TEXT_MAX_BYTES,
    ButtonCard,
    CardButton,
    SendResult,
    WecomApi,
    WecomApiError,
    WecomButtonTap,
    WecomCallbackError,
    WecomEnterAgent,
    WecomOther,
    WecomText,
    open_callback,
    parse_callback,
    retry_after_for,
    split_text,
)
from bot.channels.wecom_crypto import WecomCrypto, WecomCryptoError
from tests.bot.channels.wecom_server import (
    AGENT_ID,
    CALLBACK_TOKEN,
    CORP_ID,
    ENCODING_AES_KEY,
    SECRET,
    WecomServer,
)

MESSAGE_SEND = "/cgi-bin/message/send"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[WecomServer]:
    async with WecomServer() as peer:
        yield peer


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def client(server: WecomServer, session: aiohttp.ClientSession, **options: object) -> WecomApi:
    settings: dict[str, object] = {
        "corp_id": CORP_ID,
        "secret": SECRET,
        "agent_id": AGENT_ID,
        "base_url": server.base_url,
    }
    settings.update(options)
    return WecomApi(session, **settings)  # type: ignore[arg-type]


# --- the token ---------------------------------------------------------------------------


async def test_token_is_fetched_once_for_many_sends(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    for number in range(3):
        await api.send_text("ZhangSan", f"第{number}条")

    assert server.token_calls == 1
    assert [body["text"]["content"] for body in server.sent] == ["第0条", "第1条", "第2条"]


async def test_token_is_refreshed_before_it_expires(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    api = client(server, session, clock=clock, refresh_margin=300.0)
    await api.send_text("ZhangSan", "一")

    clock.now += 7200 - 300 - 1  # just inside the margin's edge: still the cached token
    await api.send_text("ZhangSan", "二")
    assert server.token_calls == 1

    clock.now += 2  # within 300 s of expiry: fetched anew before WeCom refuses it
    await api.send_text("ZhangSan", "三")
    assert server.token_calls == 2
    assert [call.errcode for call in server.calls_to(MESSAGE_SEND)] == [0, 0, 0]


async def test_token_expired_mid_run_is_fetched_again_and_the_send_retried_once(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    await api.send_text("ZhangSan", "之前")

    server.expire_tokens()  # WeCom ends the token early
    result = await api.send_text("ZhangSan", "之后")

    assert [call.errcode for call in server.calls_to(MESSAGE_SEND)] == [0, 42001, 0]
    assert server.token_calls == 2
    assert result.msgid
    assert [body["text"]["content"] for body in server.sent] == ["之前", "之后"]


async def test_token_refused_as_invalid_is_fetched_again(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    await api.access_token()
    server.fail_next(MESSAGE_SEND, 40014)

    await api.send_text("ZhangSan", "你好")

    assert server.token_calls == 2
    assert len(server.sent) == 1


async def test_a_fresh_token_refused_again_is_retried_later_not_forever(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    server.fail_next(MESSAGE_SEND, 42001)
    server.fail_next(MESSAGE_SEND, 42001)

    with pytest.raises(WecomApiError) as raised:
        await api.send_text("ZhangSan", "你好")

    assert raised.value.retry_after == 0  # back off, then the outbox tries again
    assert len(server.calls_to(MESSAGE_SEND)) == 2


async def test_concurrent_sends_share_one_token_fetch(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    await asyncio.gather(*(api.send_text("LiSi", f"并发{n}") for n in range(5)))

    assert server.token_calls == 1
    assert len(server.sent) == 5


async def test_wrong_secret_is_given_up_and_not_shown(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session, secret="not-the-secret")

    with pytest.raises(WecomApiError) as raised:
        await api.send_text("ZhangSan", "你好")

    assert raised.value.errcode == 40001
    assert raised.value.retry_after is None
    assert "not-the-secret" not in str(raised.value)


async def test_logs_carry_neither_the_secret_nor_the_token_nor_the_text(
    server: WecomServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = client(server, session)
    token = await api.access_token()
    server.expire_tokens()

    await api.send_text("ZhangSan", "未发布的消息")

    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records  # the refresh was logged
    for secret in (SECRET, token, await api.access_token(), "未发布的消息"):
        assert secret not in logged


# --- each message kind -------------------------------------------------------------------


async def test_text_is_sent_as_documented(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    result = await api.send_text("ZhangSan", "<b>不是标记</b> *也不是*", duplicate_check=1800)

    assert server.sent == [
        {
            "touser": "ZhangSan",
            "msgtype": "text",
            "agentid": AGENT_ID,
            "text": {"content": "<b>不是标记</b> *也不是*"},
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        }
    ]
    assert result == SendResult(msgid=result.msgid)


async def test_a_repeat_within_the_duplicate_check_reaches_the_member_once(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    await api.send_text("ZhangSan", "重发", duplicate_check=600)
    await api.send_text("ZhangSan", "重发", duplicate_check=600)  # the outbox's retry

    assert len(server.sent) == 1
    assert server.duplicates_dropped == 1


async def test_textcard_is_sent_with_its_button_text(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    await api.send_textcard(
        "LiSi",
        title="本周动态提醒",
        description="请在周四 17:00 前提交",
        url="https://zhoubao.example.gov.cn/",
        button_text="详情",
    )

    assert server.sent[0]["textcard"] == {
        "title": "本周动态提醒",
        "description": "请在周四 17:00 前提交",
        "url": "https://zhoubao.example.gov.cn/",
        "btntxt": "详情",
    }


async def test_button_card_carries_each_choice_as_a_key(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    card = ButtonCard(
        title="请选择",
        sub_title_text="本周是否有动态？",
        task_id="zb-42_1",
        buttons=(CardButton("提交动态", "submit"), CardButton("本周无动态", "none", style=2)),
    )

    result = await api.send_button_card("WangWu", card)

    assert server.sent[0]["template_card"] == {
        "card_type": "button_interaction",
        "main_title": {"title": "请选择"},
        "sub_title_text": "本周是否有动态？",
        "task_id": "zb-42_1",
        "button_list": [
            {"text": "提交动态", "style": 1, "key": "submit"},
            {"text": "本周无动态", "style": 2, "key": "none"},
        ],
    }
    assert result.response_code


def test_button_card_refuses_what_wecom_would() -> None:
    button = CardButton("一", "1")
    with pytest.raises(ValueError, match="1 to 6 buttons"):
        ButtonCard(title="t", task_id="t1", buttons=(button,) * 7)
    with pytest.raises(ValueError, match="task_id"):
        ButtonCard(title="t", task_id="有中文", buttons=(button,))
    with pytest.raises(ValueError, match="key"):
        ButtonCard(title="t", task_id="t1", buttons=(CardButton("一", "k" * 1025),))


async def test_draft_is_uploaded_then_sent_as_a_file(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    docx = b"PK\x03\x04" + b"\x00" * 600

    media_id = await api.upload_media("窗口工作周报-2022-31.docx", docx)
    await api.send_file("ZhangSan", media_id)

    assert server.uploads[media_id] == ("窗口工作周报-2022-31.docx", docx)
    assert server.calls_to("/cgi-bin/media/upload")[0].query["type"] == "file"
    assert server.sent[0]["file"] == {"media_id": media_id}


async def test_upload_of_an_empty_file_is_given_up(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(WecomApiError) as raised:
        await client(server, session).upload_media("empty.pdf", b"")
    assert raised.value.retry_after is None


def test_long_text_is_split_within_wecoms_limit_at_paragraphs() -> None:
    paragraphs = ["第一段" + "甲" * 500, "第二段" + "乙" * 500, "第三段" + "丙" * 600]
    text = "\n\n".join(paragraphs)

    parts = split_text(text)

    assert all(len(part.encode("utf-8")) <= TEXT_MAX_BYTES for part in parts)
    assert parts == paragraphs


def test_a_line_longer_than_the_limit_is_cut_between_characters() -> None:
    text = "字" * 5000

    parts = split_text(text)

    assert "".join(parts) == text
    assert all(len(part.encode("utf-8")) <= TEXT_MAX_BYTES for part in parts)


async def test_text_over_the_limit_is_refused_before_sending(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(ValueError, match="2048"):
        await client(server, session).send_text("ZhangSan", "字" * 700)
    assert server.calls_to(MESSAGE_SEND) == []


# --- errors and rate limits --------------------------------------------------------------


def test_errcodes_map_onto_the_outboxs_retry_rules() -> None:
    assert retry_after_for(-1) == 0  # 系统繁忙: back off
    assert retry_after_for(45009) == 60  # 接口调用超过限制: a minute
    assert retry_after_for(45033) == 60  # 接口并发调用超过限制
    for permanent in (40001, 40013, 40056, 48002, 60020, 81013, 45002):
        assert retry_after_for(permanent) is None


async def test_rate_limit_is_answered_with_45009_and_waits_a_minute(
    session: aiohttp.ClientSession,
) -> None:
    async with WecomServer(send_limit=(2, 60.0)) as limited:
        api = client(limited, session)
        await api.send_text("ZhangSan", "一")
        await api.send_text("LiSi", "二")

        with pytest.raises(WecomApiError) as raised:
            await api.send_text("WangWu", "三")

    assert raised.value.errcode == 45009
    assert raised.value.retry_after == 60
    assert limited.rate_limited == 1
    assert len(limited.sent) == 2


@pytest.mark.parametrize(
    ("errcode", "retry_after"), [(-1, 0.0), (60020, None), (48002, None), (45033, 60.0)]
)
async def test_errcode_of_a_send_becomes_a_channel_error(
    server: WecomServer,
    session: aiohttp.ClientSession,
    errcode: int,
    retry_after: float | None,
) -> None:
    server.fail_next(MESSAGE_SEND, errcode)

    with pytest.raises(WecomApiError) as raised:
        await client(server, session).send_text("ZhangSan", "你好")

    assert (raised.value.errcode, raised.value.retry_after) == (errcode, retry_after)


async def test_unknown_member_is_given_up(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(WecomApiError) as raised:
        await client(server, session).send_text("NoSuchUser", "你好")
    assert (raised.value.errcode, raised.value.retry_after) == (81013, None)


async def test_member_without_a_licence_is_given_up(
    server: WecomServer, session: aiohttp.ClientSession
) -> None:
    server.unlicensed.add("ZhangSan")  # listed back as "zhangsan"

    with pytest.raises(WecomApiError) as raised:
        await client(server, session).send_text("ZhangSan", "你好")

    assert raised.value.retry_after is None
    assert server.sent == []


@pytest.mark.parametrize(("status", "retry_after"), [(502, 0.0), (429, 60.0), (403, None)])
async def test_http_error_of_a_proxy_maps_onto_the_retry_rules(
    server: WecomServer,
    session: aiohttp.ClientSession,
    status: int,
    retry_after: float | None,
) -> None:
    server.fail_next(MESSAGE_SEND, status=status)

    with pytest.raises(WecomApiError) as raised:
        await client(server, session).send_text("ZhangSan", "你好")

    assert raised.value.retry_after == retry_after


async def test_unreachable_server_is_retried_with_backoff(session: aiohttp.ClientSession) -> None:
    async with WecomServer() as gone:
        base_url = gone.base_url
    api = WecomApi(session, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID, base_url=base_url)

    with pytest.raises(WecomApiError) as raised:
        await api.send_text("ZhangSan", "你好")

    assert raised.value.retry_after == 0


# --- callbacks ---------------------------------------------------------------------------


class CallbackReceiver:
    """Our side of the callback, as an adapter would serve it: verify, read, answer."""

    def __init__(self) -> None:
        self.crypto = WecomCrypto(CALLBACK_TOKEN, ENCODING_AES_KEY, CORP_ID)
        self.received: list[object] = []
        self.refused: list[str] = []

    async def post(self, request: web.Request) -> web.Response:
        body = await request.text()
        try:
            record = open_callback(self.crypto, body, request.query)
        except (WecomCryptoError, WecomCallbackError) as error:
            self.refused.append(error.reason)
            return web.Response(status=403)
        self.received.append(record)
        return web.Response(text="")  # acknowledge at once; replies go through the outbox

    async def get(self, request: web.Request) -> web.Response:
        try:
            echo = self.crypto.verify_url(
                request.query["msg_signature"],
                request.query["timestamp"],
                request.query["nonce"],
                request.query["echostr"],
            )
        except WecomCryptoError as error:
            self.refused.append(error.reason)
            return web.Response(status=403)
        return web.Response(text=echo)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[CallbackReceiver, str]]:
    ours = CallbackReceiver()
    app = web.Application()
    app.router.add_post("/wecom/callback", ours.post)
    app.router.add_get("/wecom/callback", ours.get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield ours, f"http://127.0.0.1:{port}/wecom/callback"
    await runner.cleanup()


async def test_callback_url_check_answers_the_echostr(
    server: WecomServer, receiver: tuple[CallbackReceiver, str]
) -> None:
    _, url = receiver
    assert await server.check_url(url, echo="4711") == (200, "4711")


async def test_encrypted_text_callback_arrives_as_a_text_record(
    server: WecomServer, receiver: tuple[CallbackReceiver, str]
) -> None:
    ours, url = receiver

    status, _ = await server.post_callback(
        url, server.text_message("ZhangSan", "第一行\n第二行 😀 <b>", msg_id="7001")
    )

    assert status == 200
    [record] = ours.received
    assert isinstance(record, WecomText)
    assert (record.from_user, record.content, record.agent_id) == (
        "ZhangSan",
        "第一行\n第二行 😀 <b>",
        AGENT_ID,
    )
    assert record.update_id == "msg:7001"


async def test_button_tap_callback_brings_back_the_key(
    server: WecomServer, receiver: tuple[CallbackReceiver, str]
) -> None:
    ours, url = receiver

    await server.post_callback(url, server.button_tap("LiSi", "item:42", "zb-42_1"))

    [record] = ours.received
    assert isinstance(record, WecomButtonTap)
    assert (record.from_user, record.key, record.task_id, record.card_type) == (
        "LiSi",
        "item:42",
        "zb-42_1",
        "button_interaction",
    )


async def test_enter_agent_callback_is_read(
    server: WecomServer, receiver: tuple[CallbackReceiver, str]
) -> None:
    ours, url = receiver

    await server.post_callback(url, server.enter_agent("WangWu"))

    assert [type(record) for record in ours.received] == [WecomEnterAgent]


async def test_callback_with_a_forged_signature_is_refused(
    server: WecomServer, receiver: tuple[CallbackReceiver, str]
) -> None:
    ours, url = receiver

    status, _ = await server.post_callback(
        url, server.text_message("ZhangSan", "伪造"), forged_signature="0" * 40
    )

    assert status == 403
    assert (ours.received, ours.refused) == ([], ["signature mismatch"])


async def test_callback_for_another_corp_is_refused(
    server: WecomServer, receiver: tuple[CallbackReceiver, str]
) -> None:
    ours, url = receiver
    other_corp = WecomCrypto(CALLBACK_TOKEN, ENCODING_AES_KEY, "wwOTHERCORP0000000")

    status, _ = await server.post_callback(
        url, server.text_message("ZhangSan", "别家"), crypto=other_corp
    )

    assert status == 403
    assert ours.refused == ["addressed to another corp id"]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not xml", "message is not XML"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><xml/>', "message declares a DTD"),
        ("<root/>", "root is not <xml>"),
        (f"<xml><ToUserName>{CORP_ID}</ToUserName></xml>", "no FromUserName"),
        (
            f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>u</FromUserName>"
            "<CreateTime>12a</CreateTime><MsgType>text</MsgType></xml>",
            "CreateTime is not a number",
        ),
        (
            f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>u</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
            "text without Content",
        ),
        (
            f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>u</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>event</MsgType>"
            "<Event>template_card_event</Event><TaskId>t</TaskId></xml>",
            "no EventKey",
        ),
        (
            "<xml><ToUserName>wwOTHER</ToUserName><FromUserName>u</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
            "addressed to another corp id",
        ),
    ],
)
def test_malformed_callback_message_is_refused(message: str, reason: str) -> None:
    with pytest.raises(WecomCallbackError) as raised:
        parse_callback(message, corp_id=CORP_ID)
    assert raised.value.reason == reason


def test_an_image_message_is_read_but_not_a_text() -> None:
    message = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>u</FromUserName>"
        "<CreateTime>5</CreateTime><MsgType>image</MsgType><PicUrl>http://x</PicUrl>"
        "<MsgId>99</MsgId><AgentID>1</AgentID></xml>"
    )

    record = parse_callback(message, corp_id=CORP_ID)

    assert record == WecomOther("u", 5, 1, "image", msg_id="99")
    assert record.update_id == "msg:99"
