"""An asyncio client for a WeCom self-built application (企业微信自建应用), on aiohttp.

The layer under the WeCom channel adapter: the access token, sending (text, textcard,
template_card with buttons, file), uploading the draft, mapping WeCom's errcodes onto the
outbox's retry rules, and reading a decrypted callback into a typed record. It knows nothing
of conversations, `Outgoing` or `ChatKey`.

What each part follows (WeCom developer centre, developer.work.weixin.qq.com, 服务端API):

- 获取access_token (document/path/91039): `GET /cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`
  answers `access_token` and `expires_in` (normally 7200 s). The token must be cached
  ("不能频繁调用gettoken接口，否则会受到频率拦截"), kept per application, and fetched again
  when it expires or when WeCom invalidates it early ("企业微信可能会出于运营需要，提前使
  access_token失效"). So: one cached token, refreshed `refresh_margin` seconds before
  `expires_in` runs out, and dropped and fetched again once when a call answers 42001
  (access_token已过期) or 40014 (不合法的access_token); one fetch at a time.
- 发送应用消息 (document/path/90236, `POST /cgi-bin/message/send?access_token=…`; read in
  a copy kept in a public repository, updated 2025/09/24): text.content at most 2048 bytes
  (longer is cut off, so `split_text` cuts at paragraphs, then lines, first); textcard
  title ≤ 128 and description ≤ 512 characters, url required (≤ 2048 bytes, with http(s)),
  btntxt ≤ 4 characters; file {media_id}; enable_duplicate_check: the same request JSON is
  not delivered twice within duplicate_check_interval (default 1800 s, at most 4 h), which
  lets an at-least-once outbox resend without the member seeing it twice. The answer: msgid,
  response_code (cards with buttons; 72 h, once), and the recipients it could not reach in
  invaliduser/unlicenseduser, lowercased; when none could be reached, errcode 81013. Sends
  beyond 30 a minute or 1000 an hour to one member are dropped *without an error*, so the
  adapter must pace per chat. Text content may carry `<a href>` links, which WeCom renders.
  The copy stops before the template_card section; button_interaction's fields (main_title,
  sub_title_text, task_id: digits, letters and _-@, ≤ 128 bytes; button_list of ≤ 6 {text,
  style 1-4, key ≤ 1024 bytes, unique}) are as that section is quoted in public code. The
  paths, a text send's body and the token rule (40014 or 42001: fetch a new token and call
  again) also match Tencent's own sample, sbzhu/weworkapi_python (api/src/CorpApi.py,
  AbstractApi.py, api/examples/MessageTest.py). The loopback peer
  (tests/bot/channels/wecom_server.py) checks exactly these fields.
- 上传临时素材 (document/path/90253): `POST /cgi-bin/media/upload?access_token=…&type=file`,
  multipart with the file in the field `media` (filename and length), answers `media_id`
  (valid three days, shared by the corp's applications). A file is 5 bytes to 20 MB. This
  page and the two below were not found, not even as copies; their facts are as the pages
  are quoted in public code, and as recalled.
- 全局错误码 (document/path/90313) and 频率限制 (document/path/90312): -1 系统繁忙 (retry
  later, at most three times); 45009 接口调用超过限制 and 45033 接口并发调用超过限制 (the
  limits are counted per minute, so wait a minute); everything else is a request WeCom will
  refuse again (a wrong secret 40001, corp id 40013, agent id 40056, an untrusted IP 60020,
  no permission 48002, no valid recipient 81013, …): give up. HTTP 5xx, time-outs and
  dropped connections are transient.
- 事件格式 (document/path/90376, read; template_card_event as path/90240 shows it, quoted in
  WxJava's tests) and 接收消息 (document/path/90239): the decrypted callback
  XML: ToUserName (the corp id), FromUserName (the member's UserID), CreateTime, MsgType,
  AgentID; text has Content and MsgId; an event has Event (enter_agent, template_card_event
  with EventKey = the tapped button's key, TaskId, CardType, ResponseCode). Events carry no
  MsgId: WeCom's advice is to de-duplicate them by FromUserName + CreateTime (as
  recalled from 接收消息; that page was not found).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from xml.etree import ElementTree

import aiohttp

from bot.errors import ChannelError

if TYPE_CHECKING:
    from bot.channels.wecom_crypto import WecomCrypto

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://qyapi.weixin.qq.com"
TOKEN_INVALID: Final = frozenset({40014, 42001})  # 不合法的access_token, access_token已过期
SYSTEM_BUSY: Final = -1
RATE_LIMITED: Final = frozenset({45009, 45033})  # 接口调用超过限制, 接口并发调用超过限制
RATE_LIMIT_WAIT: Final = 60.0  # s: WeCom counts its API limits per minute
TEXT_MAX_BYTES: Final = 2048  # message/send text.content; WeCom cuts longer text off
CARD_MAX_BUTTONS: Final = 6  # template_card button_interaction: button_list
CARD_KEY_MAX_BYTES: Final = 1024  # a button's key
TASK_ID_MAX_BYTES: Final = 128
TASK_ID_PATTERN: Final = re.compile(r"[0-9A-Za-z_\-@]{1,128}")  # digits, letters and _-@
DUPLICATE_CHECK_MAX: Final = 4 * 3600  # s: duplicate_check_interval's ceiling
MEDIA_MIN_BYTES: Final = 5
MEDIA_MAX_BYTES: Final = 20 * 1024 * 1024
DEFAULT_TIMEOUT: Final = 10.0  # s per HTTP call
MAX_CALLBACK_CHARS: Final = 64 * 1024  # a decrypted callback message is small
MAX_CONTENT_CHARS: Final = 16 * 1024


class WecomApiError(ChannelError):
    """A WeCom call that failed; `retry_after` as the outbox reads it.

    None: WeCom will refuse it again, give up; 0: transient, retry with backoff; > 0: wait
    that many seconds (a rate limit). `errcode` is WeCom's (0 when the failure was HTTP).
    """

    def __init__(self, detail: str, retry_after: float | None, errcode: int = 0) -> None:
        super().__init__(detail, retry_after)
        self.errcode = errcode


def retry_after_for(errcode: int) -> float | None:
    """The outbox's retry_after for a WeCom errcode (see the module's docstring)."""
    if errcode == SYSTEM_BUSY:
        return 0.0
    if errcode in RATE_LIMITED:
        return RATE_LIMIT_WAIT
    return None


def error_for(errcode: int, errmsg: str, call: str) -> WecomApiError:
    """The exception for an answer with a non-zero errcode (errmsg is WeCom's, no content)."""
    return WecomApiError(
        f"WeCom {call}: errcode {errcode} ({errmsg[:200]})", retry_after_for(errcode), errcode
    )


@dataclass(frozen=True, slots=True)
class SendResult:
    """What message/send answered: the message's id and, for a card, its response_code."""

    msgid: str
    response_code: str | None = None


@dataclass(frozen=True, slots=True)
class CardButton:
    """A button of a button_interaction card: its label and the key the tap brings back."""

    text: str
    key: str
    style: int = 1  # 1-4, WeCom's button colours


@dataclass(frozen=True, slots=True)
class ButtonCard:
    """A template_card of card_type button_interaction."""

    title: str
    buttons: tuple[CardButton, ...]
    task_id: str  # unique per application; the tap's callback carries it back
    description: str | None = None  # main_title.desc
    sub_title_text: str | None = None  # the body text under the title

    def __post_init__(self) -> None:
        if not 1 <= len(self.buttons) <= CARD_MAX_BUTTONS:
            raise ValueError(f"a button card has 1 to {CARD_MAX_BUTTONS} buttons")
        for button in self.buttons:
            if not button.key or len(button.key.encode("utf-8")) > CARD_KEY_MAX_BYTES:
                raise ValueError("a button key is 1 to 1024 bytes")
        if not TASK_ID_PATTERN.fullmatch(self.task_id):
            raise ValueError("task_id is 1 to 128 of digits, letters and _-@")

    def payload(self) -> dict[str, Any]:
        main_title: dict[str, str] = {"title": self.title}
        if self.description:
            main_title["desc"] = self.description
        card: dict[str, Any] = {
            "card_type": "button_interaction",
            "main_title": main_title,
            "task_id": self.task_id,
            "button_list": [
                {"text": button.text, "style": button.style, "key": button.key}
                for button in self.buttons
            ],
        }
        if self.sub_title_text:
            card["sub_title_text"] = self.sub_title_text
        return card


def split_text(text: str, limit: int = TEXT_MAX_BYTES) -> list[str]:
    """Cut `text` into parts of at most `limit` UTF-8 bytes: at paragraphs, then lines.

    A line longer than the limit is cut between characters. Joining the parts with the
    separators they were cut at gives the text back.
    """
    if len(text.encode("utf-8")) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = current + piece
        if current and len(candidate.rstrip("\n").encode("utf-8")) > limit:
            parts.append(current.rstrip("\n"))
            current = piece
        else:
            current = candidate
    if current.strip("\n") or not parts:
        parts.append(current.rstrip("\n"))
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs (with their separators) no longer than `limit`, else lines, else runs."""
    pieces: list[str] = []
    for paragraph in re.split(r"(?<=\n\n)", text):
        if len(paragraph.rstrip("\n").encode("utf-8")) <= limit:
            pieces.append(paragraph)
            continue
        for line in paragraph.splitlines(keepends=True):
            if len(line.rstrip("\n").encode("utf-8")) <= limit:
                pieces.append(line)
                continue
            run = ""
            for char in line:
                if len((run + char).encode("utf-8")) > limit:
                    pieces.append(run)
                    run = ""
                run += char
            pieces.append(run)
    return pieces


class WecomApi:
    """One WeCom self-built application's server API: token, sending, uploads.

    `session` is owned by the caller (the adapter closes it in `stop()`). `base_url` points
    at a private deployment (政务微信, a provincial cloud) instead of qyapi.weixin.qq.com.
    The secret and the token never appear in logs or exception messages.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        corp_id: str,
        secret: str,
        agent_id: int,
        base_url: str = DEFAULT_BASE_URL,
        refresh_margin: float = 300.0,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self.base_url = base_url.rstrip("/")
        self._refresh_margin = refresh_margin
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0  # by `clock`
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0  # gettoken calls made (for tests and metrics)

    # --- the access token ----------------------------------------------------------------

    async def access_token(self) -> str:
        """The cached token, fetched anew when missing or within `refresh_margin` of expiry."""
        token = self._token
        if token is not None and self._clock() < self._token_expires:
            return token
        async with self._token_lock:  # one gettoken at a time; the others reuse its answer
            token = self._token
            if token is not None and self._clock() < self._token_expires:
                return token
            return await self._fetch_token()

    def invalidate(self, token: str) -> None:
        """Forget `token` (WeCom said it is expired or invalid) unless already replaced."""
        if self._token == token:
            self._token = None

    async def _fetch_token(self) -> str:
        self.token_fetches += 1
        answer = await self._request(
            "GET",
            "/cgi-bin/gettoken",
            "gettoken",
            params={"corpid": self.corp_id, "corpsecret": self._secret},
        )
        token = answer.get("access_token")
        expires_in = answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WecomApiError("WeCom gettoken: answer without a token", 0.0)
        # Refresh before expiry, but never sooner than half the lifetime (a short-lived
        # token from a test peer or a private deployment still gets used).
        margin = min(self._refresh_margin, expires_in / 2)
        self._token = token
        self._token_expires = self._clock() + expires_in - margin
        logger.info("wecom token fetched", extra={"expires_in": expires_in})
        return token

    # --- sending -------------------------------------------------------------------------

    async def send_text(self, to_user: str, content: str, **options: Any) -> SendResult:
        """Send a text message (at most 2048 bytes: `split_text` first)."""
        if len(content.encode("utf-8")) > TEXT_MAX_BYTES:
            raise ValueError("text content is at most 2048 bytes; split it first")
        return await self._send(to_user, "text", {"content": content}, **options)

    async def send_textcard(
        self,
        to_user: str,
        *,
        title: str,
        description: str,
        url: str,
        button_text: str | None = None,
        **options: Any,
    ) -> SendResult:
        """Send a textcard (title ≤ 128, description ≤ 512 characters; url required)."""
        card = {"title": title, "description": description, "url": url}
        if button_text:
            card["btntxt"] = button_text
        return await self._send(to_user, "textcard", card, **options)

    async def send_button_card(self, to_user: str, card: ButtonCard, **options: Any) -> SendResult:
        """Send a template_card with buttons; a tap comes back as template_card_event."""
        return await self._send(to_user, "template_card", card.payload(), **options)

    async def send_file(self, to_user: str, media_id: str, **options: Any) -> SendResult:
        """Send an uploaded file (`upload_media`) as a file message."""
        return await self._send(to_user, "file", {"media_id": media_id}, **options)

    async def _send(
        self,
        to_user: str,
        msgtype: str,
        content: Mapping[str, Any],
        *,
        duplicate_check: int | None = None,
    ) -> SendResult:
        body: dict[str, Any] = {
            "touser": to_user,
            "msgtype": msgtype,
            "agentid": self.agent_id,
            msgtype: dict(content),
        }
        if duplicate_check is not None:
            if not 0 < duplicate_check <= DUPLICATE_CHECK_MAX:
                raise ValueError("duplicate_check is 1 s to 4 h")
            body["enable_duplicate_check"] = 1
            body["duplicate_check_interval"] = duplicate_check
        answer = await self._authorised(
            "POST", "/cgi-bin/message/send", "message/send", json_body=body
        )
        # errcode 0 with the recipient listed as invalid or unlicensed: not delivered, and
        # sending again will not change that.
        for key in ("invaliduser", "unlicenseduser"):
            # WeCom lowercases the user ids it lists here.
            if to_user.lower() in str(answer.get(key) or "").lower().split("|"):
                raise WecomApiError(f"WeCom message/send: recipient in {key}", None)
        msgid = answer.get("msgid")
        response_code = answer.get("response_code")
        return SendResult(
            msgid=str(msgid) if msgid is not None else "",
            response_code=str(response_code) if response_code else None,
        )

    async def upload_media(self, filename: str, content: bytes, *, media_type: str = "file") -> str:
        """Upload a temporary file (the draft .docx or PDF); return its media_id (3 days)."""
        if not MEDIA_MIN_BYTES <= len(content) <= MEDIA_MAX_BYTES:
            raise WecomApiError("WeCom media/upload: a file is 5 bytes to 20 MB", None)

        def form() -> aiohttp.MultipartWriter:
            # The part as WeCom's page shows it: name "media", the filename and filelength.
            # The filename goes as UTF-8 (as browsers send it): aiohttp's FormData would
            # percent-encode a Chinese name, and WeCom would show that to the member.
            writer = aiohttp.MultipartWriter("form-data")
            part = writer.append(content, {"Content-Type": "application/octet-stream"})
            part.headers["Content-Disposition"] = (
                f'form-data; name="media"; filename="{_header_safe(filename)}"; '
                f"filelength={len(content)}"
            )
            return writer

        answer = await self._authorised(
            "POST",
            "/cgi-bin/media/upload",
            "media/upload",
            params={"type": media_type},
            form=form,
        )
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WecomApiError("WeCom media/upload: answer without a media_id", 0.0)
        return media_id

    # --- HTTP ----------------------------------------------------------------------------

    async def _authorised(
        self,
        method: str,
        path: str,
        call: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        form: Callable[[], aiohttp.MultipartWriter] | None = None,
    ) -> dict[str, Any]:
        """A call with the access token; on 42001/40014 once more with a fresh token."""
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                return await self._request(
                    method,
                    path,
                    call,
                    params={**(params or {}), "access_token": token},
                    json_body=json_body,
                    data=form() if form is not None else None,
                )
            except WecomApiError as error:
                if error.errcode not in TOKEN_INVALID:
                    raise
                self.invalidate(token)
                logger.info("wecom token refused", extra={"errcode": error.errcode})
                if attempt == 2:
                    error.retry_after = 0.0  # a fresh token refused too: try again later
                    raise
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        path: str,
        call: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: aiohttp.MultipartWriter | None = None,
    ) -> dict[str, Any]:
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                data=data,
                timeout=self._timeout,
            ) as response:
                if response.status >= 500:
                    raise WecomApiError(f"WeCom {call}: HTTP {response.status}", 0.0)
                if response.status == 429:  # a proxy of a private deployment, say
                    raise WecomApiError(f"WeCom {call}: HTTP 429", RATE_LIMIT_WAIT)
                if response.status != 200:
                    raise WecomApiError(f"WeCom {call}: HTTP {response.status}", None)
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            # The message may or may not have reached WeCom; the outbox retries (at least
            # once), and duplicate_check lets WeCom drop the repeat.
            raise WecomApiError(f"WeCom {call}: {type(error).__name__}", 0.0) from error
        try:
            answer = json.loads(raw)
        except ValueError as error:
            raise WecomApiError(f"WeCom {call}: answer is not JSON", 0.0) from error
        if not isinstance(answer, dict):
            raise WecomApiError(f"WeCom {call}: answer is not a JSON object", 0.0)
        errcode = answer.get("errcode", 0)
        if not isinstance(errcode, int):
            raise WecomApiError(f"WeCom {call}: errcode is not a number", 0.0)
        if errcode != 0:
            raise error_for(errcode, str(answer.get("errmsg", "")), call)
        return answer


def _header_safe(filename: str) -> str:
    """A file name that cannot break out of its quoted header parameter."""
    return "".join("_" if char in '"\\\r\n' else char for char in filename)


# --- callbacks ---------------------------------------------------------------------------


class WecomCallbackError(Exception):
    """A decrypted callback that is not a message we can read; `reason` names the check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WecomText:
    """A member's text message to the application."""

    from_user: str
    create_time: int
    agent_id: int | None
    msg_id: str
    content: str

    @property
    def update_id(self) -> str:
        return f"msg:{self.msg_id}"


@dataclass(frozen=True, slots=True)
class WecomButtonTap:
    """A tap on a template_card button (Event template_card_event)."""

    from_user: str
    create_time: int
    agent_id: int | None
    key: str  # the button's key, as sent
    task_id: str
    card_type: str
    response_code: str | None  # for updating the card (update_template_card)

    @property
    def update_id(self) -> str:
        # Events have no MsgId; a tap is one per member, card and moment.
        return f"card:{self.from_user}:{self.create_time}:{self.task_id}:{self.key}"


@dataclass(frozen=True, slots=True)
class WecomEnterAgent:
    """A member opened the application's chat (Event enter_agent)."""

    from_user: str
    create_time: int
    agent_id: int | None

    @property
    def update_id(self) -> str:
        return f"enter:{self.from_user}:{self.create_time}"


@dataclass(frozen=True, slots=True)
class WecomOther:
    """Anything else that verified (an image, a location, subscribe …): read, not handled."""

    from_user: str
    create_time: int
    agent_id: int | None
    msg_type: str
    event: str | None = None
    msg_id: str | None = None

    @property
    def update_id(self) -> str:
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"{self.msg_type}:{self.event or ''}:{self.from_user}:{self.create_time}"


WecomCallback = WecomText | WecomButtonTap | WecomEnterAgent | WecomOther


@dataclass(frozen=True, slots=True)
class _Fields:
    values: dict[str, str] = field(default_factory=dict)

    def required(self, name: str) -> str:
        value = self.values.get(name)
        if value is None or not value.strip():
            raise WecomCallbackError(f"no {name}")
        return value.strip()

    def optional(self, name: str) -> str | None:
        value = self.values.get(name)
        return value.strip() if value is not None and value.strip() else None


def parse_callback(message: str, *, corp_id: str | None = None) -> WecomCallback:
    """The typed record of a decrypted callback message; `WecomCallbackError` if malformed.

    `corp_id`, when given, must be the message's ToUserName (the crypto already checked the
    receiver id inside the ciphertext; this checks the plaintext agrees).
    """
    if len(message) > MAX_CALLBACK_CHARS:
        raise WecomCallbackError("message too long")
    if "<!DOCTYPE" in message or "<!ENTITY" in message:  # no entity expansion, ever
        raise WecomCallbackError("message declares a DTD")
    try:
        root = ElementTree.fromstring(message)
    except ElementTree.ParseError as error:
        raise WecomCallbackError("message is not XML") from error
    if root.tag != "xml":
        raise WecomCallbackError("root is not <xml>")
    values: dict[str, str] = {}
    for child in root:
        if len(child):  # nested (SelectedItems, ScanCodeInfo …): not needed here
            continue
        values[child.tag] = child.text or ""
    fields = _Fields(values)
    to_user = fields.required("ToUserName")
    if corp_id is not None and to_user != corp_id:
        raise WecomCallbackError("addressed to another corp id")
    from_user = fields.required("FromUserName")
    create_time = _integer(fields.required("CreateTime"), "CreateTime")
    agent_text = fields.optional("AgentID")
    agent_id = _integer(agent_text, "AgentID") if agent_text is not None else None
    msg_type = fields.required("MsgType")
    if msg_type == "text":
        content = values.get("Content")
        if content is None or not content.strip():
            raise WecomCallbackError("text without Content")
        if len(content) > MAX_CONTENT_CHARS:
            raise WecomCallbackError("Content too long")
        return WecomText(from_user, create_time, agent_id, fields.required("MsgId"), content)
    if msg_type == "event":
        event = fields.required("Event")
        if event == "template_card_event":
            return WecomButtonTap(
                from_user,
                create_time,
                agent_id,
                key=fields.required("EventKey"),
                task_id=fields.required("TaskId"),
                card_type=fields.optional("CardType") or "",
                response_code=fields.optional("ResponseCode"),
            )
        if event == "enter_agent":
            return WecomEnterAgent(from_user, create_time, agent_id)
        return WecomOther(from_user, create_time, agent_id, msg_type, event=event)
    return WecomOther(from_user, create_time, agent_id, msg_type, msg_id=fields.optional("MsgId"))


def _integer(text: str, name: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise WecomCallbackError(f"{name} is not a number")
    return int(text)


def open_callback(crypto: WecomCrypto, body: str, query: Mapping[str, str]) -> WecomCallback:
    """Verify, decrypt and read a callback POST: its body and its URL's query.

    Raises `WecomCryptoError` (signature, ciphertext, corp id) or `WecomCallbackError`
    (the message inside); neither carries any of the message's content.
    """
    try:
        signature = query["msg_signature"]
        timestamp = query["timestamp"]
        nonce = query["nonce"]
    except KeyError as error:
        raise WecomCallbackError(f"query without {error.args[0]}") from None
    message = crypto.decrypt_callback(body, signature, timestamp, nonce)
    return parse_callback(message, corp_id=crypto.receive_id)
