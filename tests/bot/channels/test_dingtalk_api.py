"""The DingTalk clients against the loopback DingTalk server (dingtalk_server.py beside this).

The API client: token caching and refresh (before expiry and when it ends mid-run), one-to-one
and group sends of every template zhoubao uses, the draft's upload, errors mapped onto the
outbox's retry rules. Stream mode: connect, ack each callback once handled, ping, disconnect,
reconnect with redelivery, refused credentials. HTTP mode: the callback's signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.channels.dingtalk_api import (
    DingtalkApi,
    DingtalkApiError,
    DingtalkMessageError,
    IncomingRobotMessage,
    check_callback_signature,
    choice_card,
    file_message,
    parse_robot_message,
    retry_after_for,
    send_text_url,
    text_message,
)
from bot.channels.dingtalk_stream import (
    BOT_MESSAGE_TOPIC,
    DingtalkStream,
    StreamFrame,
    StreamState,
)
from tests.bot.channels.dingtalk_server import APP_KEY, APP_SECRET, IP_BAN, DingtalkServer

BATCH = "/v1.0/robot/oToMessages/batchSend"
USER = "manager4711"
GROUP = "cidGroupOfTheHall=="


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[DingtalkServer]:
    async with DingtalkServer() as peer:
        yield peer


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def client(
    server: DingtalkServer, session: aiohttp.ClientSession, **options: object
) -> DingtalkApi:
    settings: dict[str, object] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "api_url": server.base_url,
        "oapi_url": server.base_url,
    }
    settings.update(options)
    return DingtalkApi(session, **settings)  # type: ignore[arg-type]


# --- the token ---------------------------------------------------------------------------


async def test_token_is_fetched_once_for_many_sends(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    for number in range(3):
        await api.send_to_user(USER, text_message(f"第{number}条"))

    assert server.token_calls == 1
    assert len(server.sent) == 3


async def test_token_is_refreshed_before_it_expires(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    api = client(server, session, clock=clock)
    await api.send_to_user(USER, text_message("一"))

    clock.now += 7200 - 300 + 1
    await api.send_to_user(USER, text_message("二"))

    assert server.token_calls == 2
    assert [call.status for call in server.calls_to(BATCH)] == [200, 200]


async def test_token_expired_mid_run_is_fetched_again_and_the_send_retried_once(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    await api.send_to_user(USER, text_message("之前"))

    server.expire_tokens()
    await api.send_to_user(USER, text_message("之后"))

    assert [call.status for call in server.calls_to(BATCH)] == [200, 400, 200]
    assert server.token_calls == 2
    assert [body["msgParam"]["content"] for body in server.sent] == ["之前", "之后"]


async def test_concurrent_sends_share_one_token_fetch(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    await asyncio.gather(*(api.send_to_user(USER, text_message(f"并发{n}")) for n in range(5)))

    assert server.token_calls == 1
    assert len(server.sent) == 5


async def test_wrong_app_secret_is_given_up_and_not_shown(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session, app_secret="not-the-secret")

    with pytest.raises(DingtalkApiError) as raised:
        await api.send_to_user(USER, text_message("你好"))

    assert (raised.value.status, raised.value.retry_after) == (400, None)
    assert "not-the-secret" not in str(raised.value)


async def test_logs_carry_neither_the_secret_nor_the_token_nor_the_text(
    server: DingtalkServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = client(server, session)
    token = await api.access_token()
    server.expire_tokens()

    await api.send_to_user(USER, text_message("未发布的消息"))

    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records  # the refresh was logged
    for secret in (APP_SECRET, token, await api.access_token(), "未发布的消息"):
        assert secret not in logged


# --- sending -----------------------------------------------------------------------------


async def test_text_to_one_person_goes_through_batch_send(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    await api.send_to_user(USER, text_message("<b>原样</b> *显示* 😀"))

    assert server.sent == [
        {
            "robotCode": APP_KEY,
            "userIds": [USER],
            "msgKey": "sampleText",
            "msgParam": {"content": "<b>原样</b> *显示* 😀"},
        }
    ]


async def test_group_message_goes_to_the_open_conversation(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    key = await api.send_to_group(GROUP, text_message("各窗口请于周四前提交"))

    assert key
    assert server.sent[0]["openConversationId"] == GROUP
    assert server.sent[0]["msgParam"] == {"content": "各窗口请于周四前提交"}


async def test_choices_become_buttons_that_send_their_label_back(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)

    await api.send_to_user(
        USER, choice_card("请选择", "本周是否有动态？", ["提交动态", "本周无动态"])
    )

    body = server.sent[0]
    assert body["msgKey"] == "sampleActionCard2"
    assert body["msgParam"] == {
        "title": "请选择",
        "text": "本周是否有动态？",
        "actionTitle1": "提交动态",
        "actionURL1": send_text_url("提交动态"),
        "actionTitle2": "本周无动态",
        "actionURL2": send_text_url("本周无动态"),
    }
    assert send_text_url("本周无动态") == (
        "dtmd://dingtalkclient/sendMessage?content=%E6%9C%AC%E5%91%A8%E6%97%A0%E5%8A%A8%E6%80%81"
    )


def test_more_choices_than_a_card_holds_are_refused() -> None:
    with pytest.raises(ValueError, match="2 to 5"):
        choice_card("t", "x", [str(n) for n in range(6)])


async def test_draft_is_uploaded_then_sent_as_a_file(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    pdf = b"%PDF-1.7\n" + b"0" * 300

    media_id = await api.upload_media("窗口工作周报-2022-31.pdf", pdf)
    await api.send_to_user(USER, file_message(media_id, "窗口工作周报-2022-31.pdf", "pdf"))

    assert server.uploads[media_id] == ("窗口工作周报-2022-31.pdf", pdf)
    assert server.sent[0]["msgKey"] == "sampleFile"
    assert server.sent[0]["msgParam"]["mediaId"] == media_id


async def test_upload_with_an_expired_token_is_retried_with_a_fresh_one(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    api = client(server, session)
    await api.access_token()
    server.expire_tokens()

    media_id = await api.upload_media("a.docx", b"PK\x03\x04rest")

    assert media_id in server.uploads
    assert server.token_calls == 2


# --- errors and rate limits --------------------------------------------------------------


def test_errors_map_onto_the_outboxs_retry_rules() -> None:
    assert retry_after_for(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi") == 1
    assert retry_after_for(403, "Forbidden.AccessDenied.QpsLimitForApi") == 1
    assert retry_after_for(200, "90018") == 1
    assert retry_after_for(200, "90002") == 1
    assert retry_after_for(429, "") == 1
    assert retry_after_for(200, "-1") == 0
    assert retry_after_for(200, "88") == 0
    assert retry_after_for(502, "") == 0
    assert retry_after_for(403, "Forbidden.AccessDenied.ApiCountLimitForOrg") is None
    assert retry_after_for(200, "90020") is None
    assert retry_after_for(400, "InvalidParameter.msgKey") is None


async def test_the_per_ip_ban_is_waited_out_for_five_minutes(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    server.fail_next(BATCH, 200, IP_BAN)

    with pytest.raises(DingtalkApiError) as raised:
        await client(server, session).send_to_user(USER, text_message("你好"))

    assert raised.value.retry_after == 300


async def test_rate_limit_is_waited_out_for_a_second(session: aiohttp.ClientSession) -> None:
    async with DingtalkServer(send_limit=(2, 60.0)) as limited:
        api = client(limited, session)
        await api.send_to_user(USER, text_message("一"))
        await api.send_to_user(USER, text_message("二"))

        with pytest.raises(DingtalkApiError) as raised:
            await api.send_to_user(USER, text_message("三"))

    assert raised.value.retry_after == 1
    assert limited.rate_limited == 1
    assert len(limited.sent) == 2


async def test_unknown_person_is_given_up(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(DingtalkApiError) as raised:
        await client(server, session).send_to_user("nobody", text_message("你好"))
    assert raised.value.retry_after is None
    assert server.sent == []


async def test_flow_controlled_person_is_retried_with_backoff(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    server.flow_control(USER)

    with pytest.raises(DingtalkApiError) as raised:
        await client(server, session).send_to_user(USER, text_message("你好"))

    assert raised.value.retry_after == 0  # that chat backs off; the channel goes on


async def test_http_502_is_retried_with_backoff(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    server.fail_next(BATCH, 502)

    with pytest.raises(DingtalkApiError) as raised:
        await client(server, session).send_to_user(USER, text_message("你好"))

    assert raised.value.retry_after == 0


async def test_unreachable_server_is_retried_with_backoff(session: aiohttp.ClientSession) -> None:
    async with DingtalkServer() as gone:
        api = client(gone, session)
    with pytest.raises(DingtalkApiError) as raised:
        await api.send_to_user(USER, text_message("你好"))
    assert raised.value.retry_after == 0


async def test_unknown_template_is_given_up(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    from bot.channels.dingtalk_api import RobotMessage

    with pytest.raises(DingtalkApiError) as raised:
        await client(server, session).send_to_user(USER, RobotMessage("sampleNothing", {}))
    assert (raised.value.status, raised.value.retry_after) == (400, None)


# --- robot messages ----------------------------------------------------------------------


def test_robot_message_is_read_into_a_record(server: DingtalkServer) -> None:
    data = server.robot_message(USER, "第一行\n第二行", msg_id="msgA1")

    record = parse_robot_message(data)

    assert record == IncomingRobotMessage(
        msg_id="msgA1",
        conversation_id=f"cid{USER}==",
        is_group=False,
        sender_staff_id=USER,
        sender_id=f"$:LWCP_v1:${USER}",
        robot_code=APP_KEY,
        create_at=data["createAt"],
        msg_type="text",
        text="第一行\n第二行",
        is_in_at_list=False,
    )
    assert record.update_id == "msg:msgA1"


def test_robot_message_from_outside_the_organisation_has_no_staff_id(
    server: DingtalkServer,
) -> None:
    data = {**server.robot_message(USER, "外部"), "senderStaffId": ""}

    assert parse_robot_message(data).sender_staff_id is None


def test_robot_message_time_may_come_as_a_string(server: DingtalkServer) -> None:
    data = {**server.robot_message(USER, "时间"), "createAt": "1700000000123"}

    assert parse_robot_message(data).create_at == 1700000000123


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"msgId": ""}, "no msgId"),
        ({"conversationId": None}, "no conversationId"),
        ({"conversationType": "3"}, "unknown conversationType"),
        ({"createAt": "soon"}, "createAt is not a number"),
        ({"text": {}}, "text without content"),
    ],
)
def test_malformed_robot_message_is_refused(
    server: DingtalkServer, change: dict[str, object], reason: str
) -> None:
    data = {**server.robot_message(USER, "你好"), **change}

    with pytest.raises(DingtalkMessageError) as raised:
        parse_robot_message(data)

    assert raised.value.reason == reason


# --- HTTP mode: the callback's signature -------------------------------------------------


class HttpCallbackReceiver:
    def __init__(self) -> None:
        self.received: list[IncomingRobotMessage] = []
        self.refused: list[str] = []

    async def post(self, request: web.Request) -> web.Response:
        try:
            check_callback_signature(
                request.headers.get("timestamp"),
                request.headers.get("sign"),
                APP_SECRET,
                now_ms=int(time.time() * 1000),
            )
        except DingtalkMessageError as error:
            self.refused.append(error.reason)
            return web.Response(status=403)
        self.received.append(parse_robot_message(await request.json()))
        return web.json_response({})


@pytest.fixture
async def http_receiver() -> AsyncIterator[tuple[HttpCallbackReceiver, str]]:
    ours = HttpCallbackReceiver()
    app = web.Application()
    app.router.add_post("/dingtalk/callback", ours.post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield ours, f"http://127.0.0.1:{runner.addresses[0][1]}/dingtalk/callback"
    await runner.cleanup()


async def test_signed_http_callback_is_accepted(
    server: DingtalkServer, http_receiver: tuple[HttpCallbackReceiver, str]
) -> None:
    ours, url = http_receiver

    status = await server.post_http_callback(url, server.robot_message(USER, "你好"))

    assert status == 200
    assert [record.text for record in ours.received] == ["你好"]


async def test_http_callback_signed_with_another_secret_is_refused(
    server: DingtalkServer, http_receiver: tuple[HttpCallbackReceiver, str]
) -> None:
    ours, url = http_receiver

    status = await server.post_http_callback(
        url, server.robot_message(USER, "伪造"), secret="forger"
    )

    assert status == 403
    assert (ours.received, ours.refused) == ([], ["signature mismatch"])


async def test_http_callback_replayed_after_an_hour_is_refused(
    server: DingtalkServer, http_receiver: tuple[HttpCallbackReceiver, str]
) -> None:
    ours, url = http_receiver
    old = str(int(time.time() * 1000) - 3600 * 1000 - 5000)

    status = await server.post_http_callback(url, server.robot_message(USER, "旧"), timestamp=old)

    assert status == 403
    assert ours.refused == ["timestamp more than an hour away"]


def test_callback_without_its_headers_is_refused() -> None:
    with pytest.raises(DingtalkMessageError, match="no timestamp or sign"):
        check_callback_signature(None, None, APP_SECRET, now_ms=0)


# --- Stream mode -------------------------------------------------------------------------


class Recorder:
    """A Stream handler that records frames; `gate` holds them until released."""

    def __init__(self) -> None:
        self.frames: list[StreamFrame] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.arrived = asyncio.Event()

    async def __call__(self, frame: StreamFrame) -> None:
        self.frames.append(frame)
        self.arrived.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("engine could not commit")


@contextlib.asynccontextmanager
async def streaming(
    server: DingtalkServer,
    session: aiohttp.ClientSession,
    recorder: Recorder,
    secret: str = APP_SECRET,
) -> AsyncIterator[DingtalkStream]:
    stream = DingtalkStream(
        session,
        client_id=APP_KEY,
        client_secret=secret,
        handler=recorder,
        api_url=server.base_url,
        reconnect_base=0.01,
        reconnect_max=0.05,
        jitter=0.0,
    )
    task = asyncio.create_task(stream.run())
    try:
        yield stream
    finally:
        await stream.stop()
        await asyncio.wait_for(task, 5)


async def test_stream_subscribes_to_robot_messages_and_acks_each_once_handled(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    async with streaming(server, session, recorder) as stream:
        await server.wait_connections(1)
        message_id = await server.push_text(USER, "你好")

        acked = await server.wait_ack(message_id)

        assert stream.state is StreamState.CONNECTED
    assert server.subscriptions == [[{"type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC}]]
    assert (acked.code, acked.data) == (200, {"response": "OK"})
    assert [parse_robot_message(f.data_json()).text for f in recorder.frames] == ["你好"]
    assert server.pending == []


async def test_stream_acks_only_after_the_handler_returns(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    recorder.gate.clear()  # the engine has not committed yet
    async with streaming(server, session, recorder):
        await server.wait_connections(1)
        message_id = await server.push_text(USER, "等待提交")
        await asyncio.wait_for(recorder.arrived.wait(), 5)

        assert server.acks == []
        assert server.pending == [message_id]

        recorder.gate.set()
        await server.wait_ack(message_id)
    assert server.pending == []


async def test_stream_handler_failure_is_acked_500_and_delivered_again(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    recorder.fail_next = True
    async with streaming(server, session, recorder):
        await server.wait_connections(1)
        message_id = await server.push_text(USER, "再来一次")
        await server.wait_ack(message_id, code=500)

        await server.drop_connections()  # the gateway delivers it again on the next one
        await server.wait_connections(2)
        acked = await server.wait_ack(message_id)

    assert acked.code == 200
    assert [frame.message_id for frame in recorder.frames] == [message_id, message_id]


async def test_stream_answers_a_ping_with_its_data(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    async with streaming(server, session, Recorder()):
        await server.wait_connections(1)
        ping_id = await server.ping()

        acked = await server.wait_ack(ping_id)

    assert (acked.code, acked.data) == (200, {"opaque": ping_id})


async def test_stream_opens_a_new_connection_when_asked_to_disconnect(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    async with streaming(server, session, recorder):
        await server.wait_connections(1)
        await server.ask_disconnect()
        await server.wait_connections(2)
        message_id = await server.push_text(USER, "新连接")

        acked = await server.wait_ack(message_id)

    assert acked.connection == 2
    assert [ack.connection for ack in server.acks if ack.message_id.startswith("disconnect")] == [1]
    assert len(server.subscriptions) == 2  # a fresh connections/open, a fresh ticket


async def test_stream_redelivery_during_handling_is_handled_once_and_acked_on_the_new_connection(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    async with streaming(server, session, recorder) as stream:
        await server.wait_connections(1)
        message_id = await server.push_text(USER, "断线前")
        await asyncio.wait_for(recorder.arrived.wait(), 5)

        await server.drop_connections()  # before the handler finished: no ack went out
        await server.wait_connections(2)  # delivered again while still being handled
        recorder.gate.set()
        acked = await server.wait_ack(message_id)

        assert stream.connections == 2
    assert acked.connection == 2
    assert [frame.message_id for frame in recorder.frames] == [message_id]  # handled once


async def test_stream_with_wrong_credentials_is_refused_and_never_connects(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    async with streaming(server, session, Recorder(), secret="forged") as stream:
        await asyncio.wait_for(stream.wait_state(StreamState.REFUSED), 5)

        assert server.connections == 0


async def test_stream_ignores_a_malformed_frame_and_stays_connected(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    async with streaming(server, session, recorder):
        await server.wait_connections(1)
        await server.send_raw("not json")
        await server.send_raw('{"type": "CALLBACK", "headers": {}}')
        message_id = await server.push_text(USER, "之后照常")

        await server.wait_ack(message_id)

    assert server.connections == 1
    assert len(recorder.frames) == 1


async def test_stream_answers_an_event_it_did_not_subscribe_to_as_not_implemented(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    async with streaming(server, session, recorder):
        await server.wait_connections(1)
        await server.send_raw(
            '{"specVersion": "1.0", "type": "EVENT", "data": "{}",'
            ' "headers": {"messageId": "event-1", "topic": "*", "eventType": "user_add_org"}}'
        )

        acked = await server.wait_ack("event-1", code=None)

    assert acked.code == 404
    assert recorder.frames == []


async def test_stream_stops_when_asked(
    server: DingtalkServer, session: aiohttp.ClientSession
) -> None:
    async with streaming(server, session, Recorder()) as stream:
        await server.wait_connections(1)
    assert stream.state is StreamState.STOPPED
    assert not stream.connected.is_set()
