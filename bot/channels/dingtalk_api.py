"""An asyncio client for a DingTalk internal application robot (企业内部应用机器人), on aiohttp.

The layer under the DingTalk channel adapter: the access token, one-to-one and group sends
with the robot's message templates (msgKey/msgParam), file upload for the draft, mapping
DingTalk's errors onto the outbox's retry rules, reading a robot message into a typed record,
and checking the signature of an HTTP-mode callback. Stream mode is in
`bot/channels/dingtalk_stream.py`. It knows nothing of conversations.

What each part follows:

- The access token: `POST {api}/v1.0/oauth2/accessToken` with {appKey, appSecret}, answering
  {accessToken, expireIn}, sent as the `x-acs-dingtalk-access-token` header; cached until five
  minutes before expiry and dropped on an HTTP 401: exactly what the official Python SDK does
  (open-dingtalk/dingtalk-stream-sdk-python, dingtalk_stream/stream.py `get_access_token`,
  `reset_access_token` "reset token if open api return 401").
- 批量发送人与机器人会话中机器人消息
  (help.dingtalk.io/…/chatbots-send-one-on-one-chat-messages-in-batches):
  `POST {api}/v1.0/robot/oToMessages/batchSend` with robotCode, userIds (at most 20), msgKey
  and msgParam (a JSON string). 机器人发送群聊消息 (…/the-robot-sends-a-group-message):
  `POST {api}/v1.0/robot/groupMessages/send` with robotCode, openConversationId, msgKey and
  msgParam (at most 15,000 bytes). The batch answer's processQueryKey, invalidStaffIdList
  and flowControlledStaffIdList ("推送频繁，被限流的用户userId列表") are the fields of
  Alibaba's generated SDK (com.aliyun.dingtalkrobot_1_0 BatchSendOTOResponseBody).
- 消息发送与接收类型 (open.dingtalk.com, 即时通信IM › 机器人; read in a copy kept in a public
  repository): the templates sampleText {content}, sampleMarkdown {title, text},
  sampleActionCard2…5 (2 to 5 buttons, vertical: title, text, actionTitleN ≤ 20 characters,
  actionURLN ≤ 500), sampleFile {mediaId, fileName, fileType: xlsx, pdf, zip, rar, doc,
  docx}; the received message's fields (msgId, conversationId, conversationType "1"/"2",
  senderStaffId, empty for a sender outside the organisation, createAt in ms, msgtype,
  text.content); and the HTTP-mode headers `timestamp` and `sign`, checked below.
- Choices: a robot's action card buttons open URLs; they cannot post a value back. A button
  whose URL is `dtmd://dingtalkclient/sendMessage?content=<label>` makes the member's client
  send the label as a message, which the engine maps back like a typed label. DingTalk's
  消息链接说明 page, which describes its link schemes, was not in the corpus; the form is
  used by other DingTalk robots in public code. Check it on a real client; the adapter can
  fall back to numbered text (always accepted).
- File upload: `POST {oapi}/media/upload?access_token=…&type=file`, multipart field `media`,
  answering media_id, with the same (v1.0) token: as the official SDK's
  `upload_to_dingtalk` does it.
- Errors, from 附录B：如何处理钉钉服务端API限流 (open.dingtalk.com/document/development/
  how-to-process-api-throttling-on-the-dingtalk-server; read in a copy kept in a public
  repository): the application's QPS limit (20 a second) answers Forbidden.AccessDenied.
  QpsLimitForAppkeyAndApi (old APIs 90018), the platform-wide one Forbidden.AccessDenied.
  QpsLimitForApi (90002): "sleep 1 second" and go on. The month's quota for a standard
  organisation answers Forbidden.AccessDenied.ApiCountLimitForOrg (90020): give up. More
  than 10,000 calls in 20 s from one IP bans it for 5 minutes, answered not with an error
  code but with a page ({"status":1111,"wait":5,…,"punish":"deny"} or HTML): wait 5 minutes.
  The v1.0 APIs answer an error with an HTTP status and {code, message, requestid}; an
  invalid token is HTTP 400 {code: InvalidAuthentication, message: 不合法的access_token} as
  seen in recorded answers (the SDK resets its token on 401): either gets a fresh token,
  once. Errcode -1 or 88 (busy), HTTP 5xx, time-outs: back off. HTTP 429 and codes with
  "Throttling" are treated as QPS limits too. Everything else: give up.
- The HTTP-mode callback (消息发送与接收类型, 相关内容): DingTalk puts `timestamp` (ms) and
  `sign` in the request headers; a timestamp more than an hour from now, or a sign other
  than Base64 of HMAC-SHA256 keyed with the app secret (Client Secret), is a forged
  request. The page's example of the string signed did not survive in the copy read; it is
  `timestamp + "\n" + appSecret`, DingTalk's 加签 string for robots (the same scheme as the
  custom robot's signed webhook, whose page shows it).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from bot.errors import ChannelError

logger = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.dingtalk.com"
DEFAULT_OAPI_URL: Final = "https://oapi.dingtalk.com"
TOKEN_HEADER: Final = "x-acs-dingtalk-access-token"
BATCH_MAX_USERS: Final = 20
GROUP_PARAM_MAX_BYTES: Final = 15_000
ACTION_CARD_MAX_BUTTONS: Final = 5  # sampleActionCard2 … sampleActionCard5
RATE_LIMIT_WAIT: Final = 1.0  # s: "sleep 1 second" (the QPS limits are per second)
IP_BAN_WAIT: Final = 300.0  # s: an IP over 10,000 calls in 20 s is banned for 5 minutes
QPS_LIMIT_CODES: Final = frozenset(
    {
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",  # the application's, per API
        "Forbidden.AccessDenied.QpsLimitForApi",  # all of DingTalk's, per API
        "90018",
        "90002",
    }
)
MONTHLY_QUOTA_CODES: Final = frozenset({"Forbidden.AccessDenied.ApiCountLimitForOrg", "90020"})
BUSY_CODES: Final = frozenset({"-1", "88"})
SIGNATURE_MAX_SKEW_MS: Final = 3600 * 1000
DEFAULT_TIMEOUT: Final = 10.0
MAX_TEXT_CHARS: Final = 16 * 1024


class DingtalkApiError(ChannelError):
    """A DingTalk call that failed; `retry_after` as the outbox reads it (see WeCom's)."""

    def __init__(
        self, detail: str, retry_after: float | None, *, code: str = "", status: int = 0
    ) -> None:
        super().__init__(detail, retry_after)
        self.code = code  # DingTalk's code (v1.0) or str(errcode) (oapi); "" for HTTP alone
        self.status = status  # HTTP status; 0 when none came back


def retry_after_for(status: int, code: str) -> float | None:
    """The outbox's retry_after for an HTTP status and DingTalk code (module docstring)."""
    if code in MONTHLY_QUOTA_CODES:  # the month's quota: no use retrying soon
        return None
    if code in QPS_LIMIT_CODES or status == 429 or "QpsLimit" in code or "Throttling" in code:
        return RATE_LIMIT_WAIT
    if code in BUSY_CODES or status >= 500:
        return 0.0
    return None


@dataclass(frozen=True, slots=True)
class RobotMessage:
    """A robot message template: msgKey and its msgParam."""

    key: str
    param: dict[str, str]

    def param_json(self) -> str:
        return json.dumps(self.param, ensure_ascii=False, separators=(",", ":"))


def text_message(content: str) -> RobotMessage:
    """Plain text (sampleText): shown as sent, no markup."""
    return RobotMessage("sampleText", {"content": content})


def markdown_message(title: str, text: str) -> RobotMessage:
    return RobotMessage("sampleMarkdown", {"title": title, "text": text})


def file_message(media_id: str, file_name: str, file_type: str) -> RobotMessage:
    """A file uploaded with `upload_media` (sampleFile); file_type as "docx", "pdf"."""
    return RobotMessage(
        "sampleFile", {"mediaId": media_id, "fileName": file_name, "fileType": file_type}
    )


def send_text_url(label: str) -> str:
    """The link that makes the member's client send `label` as a message (see module)."""
    return "dtmd://dingtalkclient/sendMessage?content=" + quote(label, safe="")


def choice_card(title: str, text: str, labels: Sequence[str]) -> RobotMessage:
    """An action card with one button per choice (2 to 5), each sending its label back."""
    if not 2 <= len(labels) <= ACTION_CARD_MAX_BUTTONS:
        raise ValueError("an action card has 2 to 5 buttons; number the choices instead")
    param = {"title": title, "text": text}
    for number, label in enumerate(labels, start=1):
        param[f"actionTitle{number}"] = label
        param[f"actionURL{number}"] = send_text_url(label)
    return RobotMessage(f"sampleActionCard{len(labels)}", param)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What batchSend answered: its query key and the users it did not deliver to."""

    process_query_key: str
    invalid_users: tuple[str, ...] = ()
    flow_controlled_users: tuple[str, ...] = ()


class DingtalkApi:
    """One internal application robot's server API: token, sends, uploads.

    `api_url` and `oapi_url` point at 专有钉钉 (a private DingTalk) instead of
    api.dingtalk.com and oapi.dingtalk.com. The app secret and the token never appear in
    logs or exception messages.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_key: str,
        app_secret: str,
        robot_code: str | None = None,  # for an internal application, its AppKey
        api_url: str = DEFAULT_API_URL,
        oapi_url: str = DEFAULT_OAPI_URL,
        refresh_margin: float = 300.0,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.app_key = app_key
        self._app_secret = app_secret
        self.robot_code = robot_code or app_key
        self.api_url = api_url.rstrip("/")
        self.oapi_url = oapi_url.rstrip("/")
        self._refresh_margin = refresh_margin
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0

    # --- the access token ----------------------------------------------------------------

    async def access_token(self) -> str:
        token = self._token
        if token is not None and self._clock() < self._token_expires:
            return token
        async with self._token_lock:
            token = self._token
            if token is not None and self._clock() < self._token_expires:
                return token
            return await self._fetch_token()

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _fetch_token(self) -> str:
        self.token_fetches += 1
        answer = await self._request(
            "POST",
            self.api_url + "/v1.0/oauth2/accessToken",
            "accessToken",
            json_body={"appKey": self.app_key, "appSecret": self._app_secret},
        )
        token = answer.get("accessToken")
        expires_in = answer.get("expireIn")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise DingtalkApiError("DingTalk accessToken: answer without a token", 0.0)
        margin = min(self._refresh_margin, expires_in / 2)
        self._token = token
        self._token_expires = self._clock() + expires_in - margin
        logger.info("dingtalk token fetched", extra={"expires_in": expires_in})
        return token

    # --- sending -------------------------------------------------------------------------

    async def send_to_users(self, user_ids: Sequence[str], message: RobotMessage) -> BatchResult:
        """Send to one-to-one chats with the robot (batchSend, at most 20 users)."""
        if not 1 <= len(user_ids) <= BATCH_MAX_USERS:
            raise ValueError("batchSend takes 1 to 20 users")
        answer = await self._v1(
            "/v1.0/robot/oToMessages/batchSend",
            "oToMessages/batchSend",
            {
                "robotCode": self.robot_code,
                "userIds": list(user_ids),
                "msgKey": message.key,
                "msgParam": message.param_json(),
            },
        )
        result = BatchResult(
            process_query_key=str(answer.get("processQueryKey") or ""),
            invalid_users=_strings(answer.get("invalidStaffIdList")),
            flow_controlled_users=_strings(answer.get("flowControlledStaffIdList")),
        )
        return result

    async def send_to_user(self, user_id: str, message: RobotMessage) -> str:
        """Send to one person; raise unless delivered. Return the process query key."""
        result = await self.send_to_users([user_id], message)
        if user_id in result.flow_controlled_users:
            # DingTalk throttles messages to this one person: back off for this chat only
            # (a retry_after would pause the whole channel).
            raise DingtalkApiError("DingTalk batchSend: user flow-controlled", 0.0)
        if user_id in result.invalid_users:
            raise DingtalkApiError("DingTalk batchSend: user invalid", None)
        return result.process_query_key

    async def send_to_group(self, open_conversation_id: str, message: RobotMessage) -> str:
        """Send to a group chat the robot is in; return the process query key."""
        param = message.param_json()
        if len(param.encode("utf-8")) > GROUP_PARAM_MAX_BYTES:
            raise ValueError("msgParam is at most 15,000 bytes")
        answer = await self._v1(
            "/v1.0/robot/groupMessages/send",
            "groupMessages/send",
            {
                "robotCode": self.robot_code,
                "openConversationId": open_conversation_id,
                "msgKey": message.key,
                "msgParam": param,
            },
        )
        return str(answer.get("processQueryKey") or "")

    async def upload_media(self, filename: str, content: bytes, *, media_type: str = "file") -> str:
        """Upload a file (the draft) for `file_message`; return its media_id."""

        def form() -> aiohttp.MultipartWriter:
            writer = aiohttp.MultipartWriter("form-data")
            part = writer.append(content, {"Content-Type": "application/octet-stream"})
            # UTF-8 file name, as browsers send it (aiohttp's FormData would percent-encode).
            safe = "".join("_" if char in '"\\\r\n' else char for char in filename)
            part.headers["Content-Disposition"] = f'form-data; name="media"; filename="{safe}"'
            return writer

        for attempt in (1, 2):
            token = await self.access_token()
            try:
                answer = await self._request(
                    "POST",
                    self.oapi_url + "/media/upload",
                    "media/upload",
                    params={"access_token": token, "type": media_type},
                    data=form(),
                )
            except DingtalkApiError as error:
                if not _token_refused(error) or attempt == 2:
                    raise
                self.invalidate(token)
                continue
            media_id = answer.get("media_id")
            if not isinstance(media_id, str) or not media_id:
                raise DingtalkApiError("DingTalk media/upload: answer without a media_id", 0.0)
            return media_id
        raise AssertionError("unreachable")

    # --- HTTP ----------------------------------------------------------------------------

    async def _v1(self, path: str, call: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A v1.0 call with the token header; on 401/InvalidAuthentication once more."""
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                return await self._request(
                    "POST",
                    self.api_url + path,
                    call,
                    json_body=body,
                    headers={TOKEN_HEADER: token},
                )
            except DingtalkApiError as error:
                if not _token_refused(error):
                    raise
                self.invalidate(token)
                logger.info("dingtalk token refused", extra={"status": error.status})
                if attempt == 2:
                    error.retry_after = 0.0
                    raise
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        url: str,
        call: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: aiohttp.MultipartWriter | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                headers=headers,
                timeout=self._timeout,
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DingtalkApiError(f"DingTalk {call}: {type(error).__name__}", 0.0) from error
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = None
        if _ip_banned(status, answer):
            raise DingtalkApiError(
                f"DingTalk {call}: answered by the per-IP limit (or not JSON)", IP_BAN_WAIT
            )
        if status != 200:
            code = str(answer.get("code", "")) if isinstance(answer, dict) else ""
            raise DingtalkApiError(
                f"DingTalk {call}: HTTP {status} {code[:100]}".rstrip(),
                retry_after_for(status, code),
                code=code,
                status=status,
            )
        if not isinstance(answer, dict):
            raise DingtalkApiError(f"DingTalk {call}: answer is not a JSON object", 0.0)
        errcode = answer.get("errcode", 0)
        if errcode not in (0, None):
            code = str(errcode)
            raise DingtalkApiError(
                f"DingTalk {call}: errcode {code} ({str(answer.get('errmsg', ''))[:200]})",
                retry_after_for(status, code),
                code=code,
                status=status,
            )
        return answer


def _ip_banned(status: int, answer: object) -> bool:
    """The answer of DingTalk's per-IP limit: a page, not an error code (see module)."""
    if isinstance(answer, dict):
        return answer.get("punish") == "deny"
    return status < 500  # not JSON, and not a proxy's 5xx: the HTML page of the ban


def _token_refused(error: DingtalkApiError) -> bool:
    # v1.0: HTTP 401 / InvalidAuthentication; oapi: 40014 不合法的access_token, 42001 过期
    return error.status == 401 or error.code in {"InvalidAuthentication", "40014", "42001"}


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value)


# --- incoming robot messages -------------------------------------------------------------


class DingtalkMessageError(Exception):
    """A robot message we cannot read; `reason` names the check (never the content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IncomingRobotMessage:
    """A message to the robot, from Stream (topic /v1.0/im/bot/messages/get) or HTTP mode.

    Field names follow 消息发送与接收类型 and the official SDK's `ChatbotMessage.from_dict`
    (dingtalk_stream/chatbot.py): msgId, conversationId, conversationType ("1" one-to-one,
    "2" group), senderStaffId (empty when the sender is outside the organisation), senderId,
    robotCode, createAt (ms; a string on the page, a number in the SDK's examples),
    isInAtList, msgtype, text.content.
    """

    msg_id: str
    conversation_id: str
    is_group: bool
    sender_staff_id: str | None  # the userId; None for a sender outside the organisation
    sender_id: str
    robot_code: str
    create_at: int  # ms
    msg_type: str
    text: str | None  # msgtype "text" only
    is_in_at_list: bool

    @property
    def update_id(self) -> str:
        return f"msg:{self.msg_id}"


def parse_robot_message(data: object) -> IncomingRobotMessage:
    """The typed record of a robot message's JSON; `DingtalkMessageError` if malformed."""
    if not isinstance(data, dict):
        raise DingtalkMessageError("message is not a JSON object")

    def required(name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DingtalkMessageError(f"no {name}")
        return value.strip()

    conversation_type = required("conversationType")
    if conversation_type not in {"1", "2"}:
        raise DingtalkMessageError("unknown conversationType")
    create_at = _milliseconds(data.get("createAt"))
    msg_type = required("msgtype")
    text: str | None = None
    if msg_type == "text":
        body = data.get("text")
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise DingtalkMessageError("text without content")
        if len(content) > MAX_TEXT_CHARS:
            raise DingtalkMessageError("content too long")
        text = content
    return IncomingRobotMessage(
        msg_id=required("msgId"),
        conversation_id=required("conversationId"),
        is_group=conversation_type == "2",
        sender_staff_id=_optional(data.get("senderStaffId")),
        sender_id=str(data.get("senderId") or ""),
        robot_code=str(data.get("robotCode") or ""),
        create_at=create_at,
        msg_type=msg_type,
        text=text,
        is_in_at_list=data.get("isInAtList") is True,
    )


def _milliseconds(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**16:
        return value
    raise DingtalkMessageError("createAt is not a number")


def _optional(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- the HTTP-mode callback's signature --------------------------------------------------


def callback_signature(timestamp: str, app_secret: str) -> str:
    """DingTalk's sign of a callback: Base64(HMAC-SHA256(secret, timestamp + "\\n" + secret))."""
    digest = hmac.new(
        app_secret.encode("utf-8"),
        f"{timestamp}\n{app_secret}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def check_callback_signature(
    timestamp: str | None, sign: str | None, app_secret: str, *, now_ms: int
) -> None:
    """Refuse a callback whose headers' sign or timestamp does not hold (`DingtalkMessageError`)."""
    if not timestamp or not sign:
        raise DingtalkMessageError("no timestamp or sign")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
        raise DingtalkMessageError("timestamp is not a number")
    if abs(now_ms - int(timestamp)) > SIGNATURE_MAX_SKEW_MS:
        raise DingtalkMessageError("timestamp more than an hour away")
    expected = callback_signature(timestamp, app_secret)
    if not hmac.compare_digest(expected.encode("ascii"), sign.encode("utf-8", "replace")):
        raise DingtalkMessageError("signature mismatch")
