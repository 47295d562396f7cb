"""A small DingTalk open platform on 127.0.0.1 for the DingTalk channel's tests.

It stands in for api.dingtalk.com and oapi.dingtalk.com (or a 专有钉钉): point the clients'
`api_url` and `oapi_url` at `server.base_url`. What it implements, as the official SDK and
DingTalk's pages describe it (see bot/channels/dingtalk_api.py and dingtalk_stream.py):

- `POST /v1.0/oauth2/accessToken` {appKey, appSecret} → {accessToken, expireIn}; wrong
  credentials → HTTP 400. Tokens live `token_ttl` seconds; `expire_tokens()` ends every token
  issued so far: a call with one then gets HTTP 400 {code: InvalidAuthentication}, as
  DingTalk answers an invalid token.
- `POST /v1.0/gateway/connections/open` {clientId, clientSecret, subscriptions, ua, localIp}
  → {endpoint, ticket}; wrong credentials → HTTP 401. The endpoint is this server's
  WebSocket; a ticket opens one connection.
- The Stream WebSocket: every pushed robot message is a CALLBACK frame {specVersion, type,
  headers: {messageId, topic, contentType, time, appId, connectionId}, data: JSON string},
  sent to the open connection and kept until acked with code 200; on a new connection every
  frame not yet acked is delivered again (a frame acked 500 too). `ping()` sends a SYSTEM ping
  whose ack must echo its data; `ask_disconnect()` sends a SYSTEM disconnect and closes the
  connection shortly after, as the gateway does; `drop_connections()` cuts them at once.
- `POST /v1.0/robot/oToMessages/batchSend` and `/v1.0/robot/groupMessages/send` with the
  `x-acs-dingtalk-access-token` header: robotCode, 1–20 userIds (unknown ones come back in
  invalidStaffIdList, `flow_control(user)` puts a user in flowControlledStaffIdList),
  openConversationId of a known group, msgKey of a known template and msgParam a JSON string
  with that template's fields → {processQueryKey}. Opt-in rate limit:
  `DingtalkServer(send_limit=(N, seconds))` answers beyond it with
  {code: Forbidden.AccessDenied.QpsLimitForAppkeyAndApi} (附录B：如何处理钉钉服务端API限流; the
  page gives no HTTP status, 403 is what others record).
- `POST /media/upload?access_token&type=file` (oapi, errcode style), multipart field `media`.
- `fail_next(path, status, code)` fails the next call of a path once; with code `IP_BAN`
  it answers the per-IP limit's page ({"status":1111,"wait":5,…,"punish":"deny"}).

`post_http_callback(url, message)` delivers a robot message in HTTP mode instead: a POST of
its JSON with the `timestamp` and `sign` headers (HMAC-SHA256 of the app secret).

The codes of a bad parameter (InvalidParameter.…) are this server's own: the clients only
need to know they are permanent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

from bot.channels.dingtalk_api import callback_signature

APP_KEY: Final = "dingzhoubaotestkey"
APP_SECRET: Final = "test-app-secret-of-the-robot"
STAFF: Final = frozenset({"manager4711", "staff0001", "staff0002"})
GROUPS: Final = frozenset({"cidGroupOfTheHall=="})
BOT_TOPIC: Final = "/v1.0/im/bot/messages/get"
IP_BAN: Final = "ip-ban"  # fail_next(path, 200, IP_BAN): the per-IP limit's page
SAFETY: Final = 5.0  # s: waits in the tests end by then at the latest
TEMPLATES: Final = {
    "sampleText": ("content",),
    "sampleMarkdown": ("title", "text"),
    "sampleFile": ("mediaId", "fileName", "fileType"),
    "sampleActionCard2": ("title", "text", "actionTitle1", "actionURL1", "actionTitle2"),
    "sampleActionCard3": ("title", "text", "actionTitle1", "actionURL1", "actionTitle3"),
    "sampleActionCard4": ("title", "text", "actionTitle1", "actionURL1", "actionTitle4"),
    "sampleActionCard5": ("title", "text", "actionTitle1", "actionURL1", "actionTitle5"),
}


@dataclass
class Call:
    path: str
    body: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    code: str = ""
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class Ack:
    message_id: str
    code: int
    data: Any
    connection: int


class DingtalkServer:
    """DingTalk's API and Stream gateway on a random loopback port; `async with` runs it."""

    def __init__(
        self,
        *,
        app_key: str = APP_KEY,
        app_secret: str = APP_SECRET,
        staff: frozenset[str] = STAFF,
        groups: frozenset[str] = GROUPS,
        token_ttl: int = 7200,
        send_limit: tuple[int, float] | None = None,
    ) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.staff = set(staff)
        self.groups = set(groups)
        self.token_ttl = token_ttl
        self.send_limit = send_limit
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []  # delivered send bodies, msgParam decoded
        self.uploads: dict[str, tuple[str, bytes]] = {}
        self.subscriptions: list[list[dict[str, str]]] = []  # per connections/open
        self.acks: list[Ack] = []
        self.connections = 0
        self.rate_limited = 0
        self._tokens: dict[str, float] = {}
        self._expired: set[str] = set()
        self._tickets: set[str] = set()
        self._pending: dict[str, str] = {}  # messageId: frame, until acked 200
        self._sockets: list[tuple[int, web.WebSocketResponse]] = []
        self._flow_controlled: set[str] = set()
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._recent_sends: deque[float] = deque()
        self._changed = asyncio.Condition()  # an ack came, a connection opened
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> DingtalkServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/gateway/connect", self._connect)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._batch_send)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post("/media/upload", self._media_upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- test controls -------------------------------------------------------------------

    def expire_tokens(self) -> None:
        self._expired.update(self._tokens)
        self._tokens.clear()

    def flow_control(self, user_id: str) -> None:
        self._flow_controlled.add(user_id)

    def fail_next(self, path: str, status: int, code: str = "") -> None:
        self._failures.setdefault(path, []).append((status, code))

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    @property
    def token_calls(self) -> int:
        return len(self.calls_to("/v1.0/oauth2/accessToken"))

    @property
    def pending(self) -> list[str]:
        """messageIds delivered but not acked 200 yet."""
        return list(self._pending)

    def robot_message(
        self,
        staff_id: str,
        text: str,
        *,
        group: str | None = None,
        msg_id: str | None = None,
    ) -> dict[str, Any]:
        """A robot message's data as the SDK's ChatbotMessage reads it (not sent)."""
        now = int(time.time() * 1000)
        return {
            "conversationId": group or f"cid{staff_id}==",
            "chatbotCorpId": "dingcorp0001",
            "chatbotUserId": "$:LWCP_v1:$bot",
            "msgId": msg_id or f"msg{next(self._ids):06d}",
            "senderNick": "小王",
            "isAdmin": False,
            "senderStaffId": staff_id,
            "sessionWebhookExpiredTime": now + 5_400_000,
            "createAt": now,
            "senderCorpId": "dingcorp0001",
            "conversationType": "2" if group else "1",
            "senderId": f"$:LWCP_v1:${staff_id}",
            "sessionWebhook": f"{self.base_url}/robot/sendBySession?session=s",
            "robotCode": self.app_key,
            "msgtype": "text",
            "text": {"content": text},
            "isInAtList": bool(group),
        }

    async def push(self, data: dict[str, Any], *, message_id: str | None = None) -> str:
        """Deliver a CALLBACK frame of the robot topic; return its messageId."""
        message_id = message_id or f"frame-{next(self._ids)}"
        frame = json.dumps(
            {
                "specVersion": "1.0",
                "type": "CALLBACK",
                "headers": {
                    "appId": "app-zhoubao",
                    "connectionId": "conn",
                    "contentType": "application/json",
                    "messageId": message_id,
                    "time": str(int(time.time() * 1000)),
                    "topic": BOT_TOPIC,
                },
                "data": json.dumps(data, ensure_ascii=False),
            },
            ensure_ascii=False,
        )
        self._pending[message_id] = frame
        await self._broadcast(frame)
        return message_id

    async def push_text(self, staff_id: str, text: str, **options: Any) -> str:
        return await self.push(self.robot_message(staff_id, text, **options))

    async def ping(self) -> str:
        """Send a SYSTEM ping; its ack must echo the data."""
        message_id = f"ping-{next(self._ids)}"
        await self._broadcast(self._system("ping", message_id, {"opaque": message_id}))
        return message_id

    async def ask_disconnect(self) -> None:
        """Send a SYSTEM disconnect, then close the connections a moment later."""
        message_id = f"disconnect-{next(self._ids)}"
        leaving = list(self._sockets)
        await self._broadcast(self._system("disconnect", message_id, {"reason": "rebalance"}))
        await asyncio.sleep(0.2)
        for _, ws in leaving:  # the client may already have opened its next connection
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def drop_connections(self) -> None:
        sockets, self._sockets = self._sockets, []
        for _, ws in sockets:
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def send_raw(self, raw: str) -> None:
        """Put any text frame on the connections (a malformed one, say)."""
        await self._broadcast(raw)

    async def wait_ack(self, message_id: str, code: int | None = 200) -> Ack:
        """The first ack of `message_id` (with `code`, unless None), waiting for it."""

        def found() -> Ack | None:
            return next(
                (
                    a
                    for a in self.acks
                    if a.message_id == message_id and (code is None or a.code == code)
                ),
                None,
            )

        async with asyncio.timeout(SAFETY), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result

    async def wait_connections(self, count: int) -> None:
        """Return once `count` connections were opened and one is open now."""
        async with asyncio.timeout(SAFETY), self._changed:
            await self._changed.wait_for(lambda: self.connections >= count and bool(self._sockets))

    async def post_http_callback(
        self,
        url: str,
        data: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: str | None = None,
    ) -> int:
        """Deliver a robot message in HTTP mode, signed with `secret`; the HTTP status."""
        stamp = timestamp or str(int(time.time() * 1000))
        headers = {
            "timestamp": stamp,
            "sign": callback_signature(stamp, secret or self.app_secret),
            "Content-Type": "application/json",
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=json.dumps(data), headers=headers) as response,
        ):
            return response.status

    # --- the gateway ---------------------------------------------------------------------

    @staticmethod
    def _system(topic: str, message_id: str, data: dict[str, Any]) -> str:
        return json.dumps(
            {
                "specVersion": "1.0",
                "type": "SYSTEM",
                "headers": {
                    "contentType": "application/json",
                    "messageId": message_id,
                    "time": str(int(time.time() * 1000)),
                    "topic": topic,
                },
                "data": json.dumps(data),
            }
        )

    async def _broadcast(self, frame: str) -> None:
        for _, ws in list(self._sockets):
            if not ws.closed:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(frame)

    async def _open(self, request: web.Request) -> web.Response:
        body = await request.json()
        call = Call(request.path, {k: v for k, v in body.items() if k != "clientSecret"})
        self.calls.append(call)
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            return self._v1_error(call, 401, "InvalidAuthentication")
        self.subscriptions.append(body.get("subscriptions", []))
        ticket = secrets.token_urlsafe(16)
        self._tickets.add(ticket)
        return web.json_response(
            {"endpoint": f"ws://127.0.0.1:{self.port}/gateway/connect", "ticket": ticket}
        )

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        number = self.connections
        self._sockets.append((number, ws))
        async with self._changed:
            self._changed.notify_all()
        for frame in list(self._pending.values()):  # not acked yet: deliver again
            await ws.send_str(frame)
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            reply = json.loads(message.data)
            message_id = reply["headers"]["messageId"]
            if reply.get("code") == 200:
                self._pending.pop(message_id, None)
            async with self._changed:
                self.acks.append(
                    Ack(message_id, int(reply["code"]), json.loads(reply["data"]), number)
                )
                self._changed.notify_all()
        self._sockets = [(n, s) for n, s in self._sockets if s is not ws]
        return ws

    # --- the APIs ------------------------------------------------------------------------

    def _v1_error(self, call: Call, status: int, code: str) -> web.Response:
        call.status, call.code = status, code
        return web.json_response(
            {"code": code, "message": code, "requestid": secrets.token_hex(6)}, status=status
        )

    def _failure(self, call: Call) -> web.Response | None:
        failures = self._failures.get(call.path)
        if not failures:
            return None
        status, code = failures.pop(0)
        if code == IP_BAN:
            call.status, call.code = status, code
            return web.json_response(
                {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "x"},
                status=status,
            )
        if not code:
            call.status = status
            return web.Response(status=status, text="<html>Bad Gateway</html>")
        return self._v1_error(call, status, code)

    def _token_ok(self, token: str) -> bool:
        expiry = self._tokens.get(token)
        if expiry is not None and time.monotonic() >= expiry:
            self._tokens.pop(token)
            self._expired.add(token)
            return False
        return expiry is not None

    async def _access_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        call = Call(request.path, {"appKey": body.get("appKey")})
        self.calls.append(call)
        if (failure := self._failure(call)) is not None:
            return failure
        if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
            return self._v1_error(call, 400, "invalidClientIdOrSecret")
        token = secrets.token_hex(16)
        self._tokens[token] = time.monotonic() + self.token_ttl
        return web.json_response({"accessToken": token, "expireIn": self.token_ttl})

    async def _checked_send(self, request: web.Request) -> tuple[Call, web.Response | None]:
        call = Call(request.path)
        self.calls.append(call)
        try:
            body = await request.json()
        except ValueError:
            return call, self._v1_error(call, 400, "InvalidParameter")
        call.body = body
        if (failure := self._failure(call)) is not None:
            return call, failure
        if not self._token_ok(request.headers.get("x-acs-dingtalk-access-token", "")):
            # As DingTalk answers it (HTTP 400, not 401, in recorded answers).
            return call, self._v1_error(call, 400, "InvalidAuthentication")
        if self.send_limit is not None:
            count, window = self.send_limit
            now = time.monotonic()
            while self._recent_sends and self._recent_sends[0] <= now - window:
                self._recent_sends.popleft()
            if len(self._recent_sends) >= count:
                self.rate_limited += 1
                return call, self._v1_error(
                    call, 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
                )
            self._recent_sends.append(now)
        if body.get("robotCode") != self.app_key:
            return call, self._v1_error(call, 400, "InvalidParameter.robotCode")
        fields = TEMPLATES.get(body.get("msgKey", ""))
        if fields is None:
            return call, self._v1_error(call, 400, "InvalidParameter.msgKey")
        try:
            param = json.loads(body.get("msgParam", ""))
        except (TypeError, ValueError):
            return call, self._v1_error(call, 400, "InvalidParameter.msgParam")
        if not isinstance(param, dict) or not all(isinstance(param.get(f), str) for f in fields):
            return call, self._v1_error(call, 400, "InvalidParameter.msgParam")
        if body["msgKey"] == "sampleFile" and param["mediaId"] not in self.uploads:
            return call, self._v1_error(call, 400, "InvalidParameter.mediaId")
        call.body = {**body, "msgParam": param}
        return call, None

    async def _batch_send(self, request: web.Request) -> web.Response:
        call, error = await self._checked_send(request)
        if error is not None:
            return error
        users = call.body.get("userIds")
        if not isinstance(users, list) or not 1 <= len(users) <= 20:
            return self._v1_error(call, 400, "InvalidParameter.userIds")
        invalid = [user for user in users if user not in self.staff]
        throttled = [user for user in users if user in self._flow_controlled]
        delivered = [user for user in users if user not in invalid and user not in throttled]
        if delivered:
            self.sent.append({**call.body, "userIds": delivered})
        return web.json_response(
            {
                "processQueryKey": secrets.token_urlsafe(12),
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": throttled,
            }
        )

    async def _group_send(self, request: web.Request) -> web.Response:
        call, error = await self._checked_send(request)
        if error is not None:
            return error
        if call.body.get("openConversationId") not in self.groups:
            return self._v1_error(call, 400, "InvalidParameter.openConversationId")
        self.sent.append(call.body)
        return web.json_response({"processQueryKey": secrets.token_urlsafe(12)})

    async def _media_upload(self, request: web.Request) -> web.Response:
        call = Call(request.path, dict(request.query))
        call.body.pop("access_token", None)
        self.calls.append(call)
        if not self._token_ok(request.query.get("access_token", "")):
            call.code = "40014"
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        form = await request.post()
        media = form.get("media")
        if not isinstance(media, web.FileField):
            call.code = "40003"
            return web.json_response({"errcode": 40003, "errmsg": "missing media"})
        content = media.file.read()
        call.files["media"] = (media.filename, content)
        media_id = f"@media{next(self._ids)}"
        self.uploads[media_id] = (media.filename, content)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "media_id": media_id, "type": request.query["type"]}
        )
