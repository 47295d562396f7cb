"""A small WeCom server API on 127.0.0.1 for the WeCom channel's tests.

It stands in for qyapi.weixin.qq.com (or a 政务微信 deployment): point `WecomApi(base_url=…)`
at `server.base_url`. It implements what zhoubao uses, with WeCom's documented answers:

- `GET /cgi-bin/gettoken?corpid&corpsecret`: a token with `expires_in` (`token_ttl`, 7200 by
  default); a wrong corp id answers 40013, a wrong secret 40001 (全局错误码). Tokens expire
  after `token_ttl` seconds, and `expire_tokens()` expires every token issued so far at once,
  as WeCom may do early: a call with one then answers 42001; an unknown token 40014.
- `POST /cgi-bin/message/send?access_token`: checks the body as 发送应用消息 describes it
  (touser, msgtype, agentid, and the msgtype's own object: text.content ≤ 2048 bytes, textcard
  title/description/url, template_card button_interaction with main_title, task_id and 1–6
  buttons with keys, file.media_id of an upload) and answers msgid (and response_code for a
  card); a user not in `users` answers 81013, one in `unlicensed` errcode 0 with the user in
  unlicenseduser, lowercased; enable_duplicate_check drops a repeat within its interval,
  answering as if sent.
- `POST /cgi-bin/media/upload?access_token&type=file`: multipart field `media`, answers
  media_id; fewer than 5 bytes answers 40006.
- Rate limit (opt-in): `WecomServer(send_limit=(N, seconds))` answers message/send with 45009
  beyond N sends in any window of that many seconds, and counts it in `rate_limited`.
- `fail_next(path, errcode)` makes the next call to a path answer that errcode once (-1
  系统繁忙, 60020 untrusted IP, …), or an HTTP status with `status=502`.

Callbacks: `post_callback(url, message)` encrypts a plaintext callback message with the real
WXBizMsgCrypt scheme (bot/channels/wecom_crypto.py) and POSTs it to `url` with msg_signature,
timestamp and nonce in the query, as WeCom does; `check_url(url)` is the GET with an encrypted
echostr that WeCom sends when the callback URL is saved. `text_message`, `button_tap` and
`enter_agent` build the plaintext messages as 接收消息/事件格式 show them.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web

from bot.channels.wecom_crypto import WecomCrypto, signature

CORP_ID: Final = "ww1436e0e65a779aee"
SECRET: Final = "test-secret-of-the-application"
AGENT_ID: Final = 1000002
CALLBACK_TOKEN: Final = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
ENCODING_AES_KEY: Final = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
USERS: Final = frozenset({"ZhangSan", "LiSi", "WangWu"})
TEXT_MAX_BYTES: Final = 2048
MSGTYPES: Final = frozenset({"text", "textcard", "template_card", "file"})


@dataclass
class Call:
    """One request the server received and the errcode it answered (0: ok)."""

    path: str
    query: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    errcode: int = 0
    status: int = 200
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _Failure:
    errcode: int
    status: int


class WecomServer:
    """A WeCom server API on a random loopback port; `async with` starts and stops it."""

    def __init__(
        self,
        *,
        corp_id: str = CORP_ID,
        secret: str = SECRET,
        agent_id: int = AGENT_ID,
        users: frozenset[str] = USERS,
        token_ttl: int = 7200,
        send_limit: tuple[int, float] | None = None,
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.users = set(users)
        self.unlicensed: set[str] = set()  # members without a licence: listed, not delivered
        self.token_ttl = token_ttl
        self.send_limit = send_limit
        self.crypto = WecomCrypto(CALLBACK_TOKEN, ENCODING_AES_KEY, corp_id)
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []  # message/send bodies delivered
        self.uploads: dict[str, tuple[str, bytes]] = {}  # media_id: (filename, content)
        self.rate_limited = 0
        self.duplicates_dropped = 0
        self._tokens: dict[str, float] = {}  # token: expiry (time.monotonic)
        self._expired: set[str] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._recent_sends: deque[float] = deque()
        self._recent_bodies: dict[str, float] = {}  # body as JSON: until when a repeat drops
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> WecomServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._message_send)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- test controls -------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Expire every token issued so far (calls with them answer 42001)."""
        self._expired.update(self._tokens)
        self._tokens.clear()

    def fail_next(self, path: str, errcode: int = -1, *, status: int = 200) -> None:
        """Answer the next call to `path` once with `errcode` (or HTTP `status`)."""
        self._failures.setdefault(path, []).append(_Failure(errcode, status))

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    @property
    def token_calls(self) -> int:
        return len(self.calls_to("/cgi-bin/gettoken"))

    # --- plaintext callback messages (接收消息, 事件格式) ---------------------------------

    def text_message(self, user: str, content: str, *, msg_id: str | None = None) -> str:
        return _xml(
            ToUserName=self.corp_id,
            FromUserName=user,
            CreateTime=str(int(time.time())),
            MsgType="text",
            Content=content,
            MsgId=msg_id or str(next(self._ids) + 1_000_000),
            AgentID=str(self.agent_id),
        )

    def button_tap(
        self, user: str, key: str, task_id: str, *, create_time: int | None = None
    ) -> str:
        return _xml(
            ToUserName=self.corp_id,
            FromUserName=user,
            CreateTime=str(create_time if create_time is not None else int(time.time())),
            MsgType="event",
            Event="template_card_event",
            EventKey=key,
            TaskId=task_id,
            CardType="button_interaction",
            ResponseCode=secrets.token_hex(8),
            AgentID=str(self.agent_id),
        )

    def enter_agent(self, user: str) -> str:
        return _xml(
            ToUserName=self.corp_id,
            FromUserName=user,
            CreateTime=str(int(time.time())),
            MsgType="event",
            Event="enter_agent",
            EventKey="",
            AgentID=str(self.agent_id),
        )

    async def post_callback(
        self,
        url: str,
        message: str,
        *,
        crypto: WecomCrypto | None = None,
        forged_signature: str | None = None,
    ) -> tuple[int, str]:
        """POST `message` encrypted to our callback URL as WeCom does; (status, body).

        `crypto` encrypts with other keys (a forger's); `forged_signature` replaces the signature.
        """
        timestamp = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        body = (crypto or self.crypto).encrypt_callback(message, timestamp, nonce)
        sign = forged_signature
        if sign is None:
            sign = body.split("<MsgSignature>")[1].split("</MsgSignature>")[0]
        query = {"msg_signature": sign, "timestamp": timestamp, "nonce": nonce}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, params=query, data=body.encode("utf-8")) as response,
        ):
            return response.status, await response.text()

    async def check_url(self, url: str, echo: str = "1288432023552776189") -> tuple[int, str]:
        """WeCom's check of a callback URL: a GET with an encrypted echostr; (status, body)."""
        timestamp = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        echostr = self.crypto.encrypt(echo)
        query = {
            "msg_signature": signature(self.crypto.token, timestamp, nonce, echostr),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        async with aiohttp.ClientSession() as session, session.get(url, params=query) as response:
            return response.status, await response.text()

    # --- the API -------------------------------------------------------------------------

    def _failure(self, call: Call) -> web.Response | None:
        failures = self._failures.get(call.path)
        if not failures:
            return None
        failure = failures.pop(0)
        if failure.status != 200:
            call.status = failure.status
            return web.Response(status=failure.status, text="<html>Bad Gateway</html>")
        return self._error(call, failure.errcode)

    def _error(self, call: Call, errcode: int) -> web.Response:
        call.errcode = errcode
        return web.json_response({"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")})

    def _token_error(self, call: Call) -> int:
        token = call.query.get("access_token", "")
        expiry = self._tokens.get(token)
        if expiry is not None and time.monotonic() >= expiry:
            self._tokens.pop(token)
            self._expired.add(token)
        if token in self._expired:
            return 42001
        if token not in self._tokens:
            return 40014 if token else 41001
        return 0

    async def _gettoken(self, request: web.Request) -> web.Response:
        call = Call(request.path, dict(request.query))
        self.calls.append(call)
        if (failure := self._failure(call)) is not None:
            return failure
        if call.query.get("corpid") != self.corp_id:
            return self._error(call, 40013)
        if call.query.get("corpsecret") != self.secret:
            return self._error(call, 40001)
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.monotonic() + self.token_ttl
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        )

    async def _message_send(self, request: web.Request) -> web.Response:
        call = Call(request.path, dict(request.query))
        self.calls.append(call)
        try:
            body = await request.json()
        except ValueError:
            return self._error(call, 47001)
        call.body = body if isinstance(body, dict) else {}
        if (failure := self._failure(call)) is not None:
            return failure
        if errcode := self._token_error(call):
            return self._error(call, errcode)
        if self.send_limit is not None:
            count, window = self.send_limit
            now = time.monotonic()
            while self._recent_sends and self._recent_sends[0] <= now - window:
                self._recent_sends.popleft()
            if len(self._recent_sends) >= count:
                self.rate_limited += 1
                return self._error(call, 45009)
            self._recent_sends.append(now)
        if errcode := self._check_message(call.body):
            return self._error(call, errcode)
        if call.body.get("touser") not in self.users:
            return self._error(call, 81013)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "msgid": f"m{next(self._ids)}"}
        if call.body["touser"] in self.unlicensed:
            # Sent, but not to this member; WeCom lists user ids lowercased.
            answer["unlicenseduser"] = call.body["touser"].lower()
            return web.json_response(answer)
        if call.body["msgtype"] == "template_card":
            answer["response_code"] = secrets.token_hex(8)
        if call.body.get("enable_duplicate_check") == 1:
            key = json.dumps(
                {k: v for k, v in call.body.items() if "duplicate" not in k}, sort_keys=True
            )
            now = time.monotonic()
            if self._recent_bodies.get(key, 0.0) > now:
                self.duplicates_dropped += 1
                return web.json_response(answer)
            self._recent_bodies[key] = now + float(call.body.get("duplicate_check_interval", 1800))
        self.sent.append(call.body)
        return web.json_response(answer)

    def _check_message(self, body: dict[str, Any]) -> int:
        """0 if `body` is a message/send body as documented, else WeCom's errcode."""
        msgtype = body.get("msgtype")
        if msgtype not in MSGTYPES:
            return 40008  # 不合法的消息类型
        if body.get("agentid") != self.agent_id:
            return 40056  # 不合法的agentid
        if not isinstance(body.get("touser"), str):
            return 40058
        content = body.get(msgtype)
        if not isinstance(content, dict):
            return 40058
        if msgtype == "text":
            text = content.get("content")
            if not isinstance(text, str) or not text:
                return 44004  # 文本消息content参数为空
            if len(text.encode("utf-8")) > TEXT_MAX_BYTES:
                return 45002  # 消息内容大小超过限制
        elif msgtype == "textcard":
            if not all(isinstance(content.get(k), str) for k in ("title", "description", "url")):
                return 40058
        elif msgtype == "file":
            if content.get("media_id") not in self.uploads:
                return 40007  # 不合法的media_id
        elif msgtype == "template_card":
            return _check_button_card(content)
        return 0

    async def _media_upload(self, request: web.Request) -> web.Response:
        call = Call(request.path, dict(request.query))
        self.calls.append(call)
        if (failure := self._failure(call)) is not None:
            return failure
        if errcode := self._token_error(call):
            return self._error(call, errcode)
        if call.query.get("type") not in {"file", "image", "voice", "video"}:
            return self._error(call, 40005)
        form = await request.post()
        media = form.get("media")
        if not isinstance(media, web.FileField):
            return self._error(call, 41005)  # 缺少多媒体文件数据
        content = media.file.read()
        call.files["media"] = (media.filename, content)
        if len(content) < 5:
            return self._error(call, 40006)  # 不合法的文件大小
        media_id = f"media{next(self._ids)}"
        self.uploads[media_id] = (media.filename, content)
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "",
                "type": call.query["type"],
                "media_id": media_id,
                "created_at": str(int(time.time())),
            }
        )


def _check_button_card(card: dict[str, Any]) -> int:
    if card.get("card_type") != "button_interaction":
        return 40058
    title = card.get("main_title")
    if not isinstance(title, dict) or not isinstance(title.get("title"), str):
        return 40058
    task_id = card.get("task_id")
    if not isinstance(task_id, str) or not task_id or len(task_id.encode()) > 128:
        return 40058
    buttons = card.get("button_list")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
        return 40058
    for button in buttons:
        if not isinstance(button, dict) or not button.get("text") or not button.get("key"):
            return 40058
    return 0


def _xml(**fields: str) -> str:
    inner = "".join(f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items())
    return f"<xml>{inner}</xml>"


def _cdata(value: str) -> str:
    if value.isdigit():
        return value
    if "]]>" in value:
        return escape(value)
    return f"<![CDATA[{value}]]>"


ERRMSG: Final = {
    -1: "system busy",
    40001: "invalid secret",
    40005: "invalid media type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40056: "invalid agentid",
    40058: "invalid parameter",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "api freq out of limit",
    47001: "data format error",
    60020: "not allow to access from your ip",
    81013: "user & party & tag all invalid",
}
