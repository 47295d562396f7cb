"""The DingTalk channel (钉钉, 专有钉钉): an internal application robot (企业内部应用机器人).

It translates, over `dingtalk_api` (the robot's server API) and `dingtalk_stream` (Stream
mode on aiohttp):

- **Stream mode** (default): the robot's messages come over an outbound WebSocket. Each
  message is handed to the pump and its frame acked only once the engine committed it (the
  handler awaits that); a failure is acked 500 and DingTalk delivers it again, a redelivery
  after a crash is dropped by the update ledger.
- **Callback mode** (`mode = "callback"`): DingTalk POSTs each message to `callback_path` on
  zhoubao's web server; the `timestamp`/`sign` headers are checked before the body is read
  (403 otherwise), the body is bounded, and the answer (200) waits for the commit, at most
  `callback_wait` seconds; past that it is 503 and a resend is dropped by the ledger.
- **Who**: a one-to-one chat is ChatKey(staffId, staffId). A sender outside the organisation
  (empty `senderStaffId`) cannot bind: in a group they are a stranger whose text is not read
  (so no invite code of theirs binds), answered in the group; one-to-one their message is
  dropped, since nothing can reach them (batchSend needs a staffId). Group chats (`groups`):
  DingTalk brings the robot only the messages that @-mention it; "mention" hands those on
  as ChatKey(openConversationId, staffId) and answers in the group; "ignore" drops them.
- **Sending**: text (sampleText, shown as sent) in parts of at most `TEXT_MAX_BYTES`; 2–5
  choices as an action card after the text, each button sending its label back as a message
  (`dtmd://` link; the engine maps the label to its choice); one choice or more than five as
  numbered text; a document as its text, then the file (uploaded, then sampleFile).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

import aiohttp
from aiohttp import web

from bot.channels import webhook
from bot.channels.console import format_outgoing
from bot.channels.dingtalk_api import (
    ACTION_CARD_MAX_BUTTONS,
    DEFAULT_API_URL,
    DEFAULT_OAPI_URL,
    DingtalkApi,
    DingtalkApiError,
    DingtalkMessageError,
    IncomingRobotMessage,
    RobotMessage,
    check_callback_signature,
    choice_card,
    file_message,
    parse_robot_message,
    text_message,
)
from bot.channels.dingtalk_stream import RECONNECT_BASE, DingtalkStream, StreamFrame, StreamState
from bot.channels.wecom_api import split_text
from bot.errors import ChannelError, ConfigError
from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing

if TYPE_CHECKING:
    from bot.config import DingtalkChannelConfig

logger = logging.getLogger(__name__)

Mode = Literal["stream", "callback"]
GroupPolicy = Literal["mention", "ignore"]

TEXT_MAX_BYTES: Final = 6000  # a part's text; groupMessages/send takes 15,000 bytes of msgParam
MAX_BODY: Final = 64 * 1024
CALLBACK_WAIT: Final = 10.0  # s an HTTP callback waits for its commit
CARD_TITLE: Final = "请选择"
CARD_TEXT: Final = "请选择："
OUTSIDER: Final = "outsider:"  # chat ids of senders outside the organisation

MSG_NO_SECRET: Final = "启用 dingtalk 时必须在环境变量 {env} 中提供应用的 AppSecret"

_STATES: Final = {
    StreamState.STOPPED: "stopped",
    StreamState.CONNECTING: "connecting",
    StreamState.CONNECTED: "running",
    StreamState.RECONNECTING: "disconnected",
    StreamState.REFUSED: "unauthenticated",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _use_card(message: Outgoing) -> bool:
    return 2 <= len(message.choices) <= ACTION_CARD_MAX_BUTTONS


def parts_of(message: Outgoing) -> list[RobotMessage | None]:
    """What `message` is sent as: texts, the choice card, then None for the document."""
    card = _use_card(message)
    text = message.text if card else format_outgoing(message)
    parts: list[RobotMessage | None] = [
        text_message(piece) for piece in split_text(text, TEXT_MAX_BYTES) if piece.strip()
    ]
    if card:
        parts.append(choice_card(CARD_TITLE, CARD_TEXT, [c.label for c in message.choices]))
    if message.document is not None:
        parts.append(None)
    return parts


def _file_type(filename: str) -> str:
    _, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and extension else "file"


class DingtalkChannel:
    """A DingTalk internal application robot (see the module docstring)."""

    kind = ChannelKind.DINGTALK

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        robot_code: str | None = None,
        mode: Mode = "stream",
        groups: GroupPolicy = "mention",
        api_url: str = DEFAULT_API_URL,
        oapi_url: str = DEFAULT_OAPI_URL,
        clock: Callable[[], datetime] = _utc_now,
        callback_wait: float = CALLBACK_WAIT,
        read_timeout: float = webhook.READ_TIMEOUT,
        reconnect_base: float = RECONNECT_BASE,
    ) -> None:
        self.app_key = app_key
        self._app_secret = app_secret
        self.robot_code = robot_code or app_key
        self.mode: Mode = mode
        self.groups: GroupPolicy = groups
        self.api_url = api_url
        self.oapi_url = oapi_url
        self._clock = clock
        self._callback_wait = callback_wait
        self._read_timeout = read_timeout
        self._reconnect_base = reconnect_base
        self._session: aiohttp.ClientSession | None = None
        self._api: DingtalkApi | None = None
        self.stream: DingtalkStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._running = False
        self.last_error: str | None = None
        self._stopping = asyncio.Event()
        self._queue: asyncio.Queue[tuple[Incoming, asyncio.Future[bool]]] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[bool]] = {}

    @classmethod
    def from_config(
        cls,
        config: DingtalkChannelConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
        environ: Mapping[str, str] | None = None,
    ) -> DingtalkChannel:
        """Build the channel from `[channels.dingtalk]`; the AppSecret from the environment."""
        env = os.environ if environ is None else environ
        assert config.app_key is not None  # checked on load
        secret = env.get(config.app_secret_env, "")
        if not secret:
            raise ConfigError(
                MSG_NO_SECRET.format(env=config.app_secret_env),
                key="channels.dingtalk.app_secret_env",
            )
        return cls(
            app_key=config.app_key,
            app_secret=secret,
            robot_code=config.robot_code,
            mode=config.mode,
            groups=config.groups,
            api_url=config.api_url,
            oapi_url=config.oapi_url,
            clock=clock,
        )

    # --- state ------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """Stream mode: "connecting", "running" (connected), "disconnected" (reconnecting),
        "unauthenticated" (the gateway refused the AppKey or AppSecret) or "stopped";
        callback mode: "running"."""
        if not self._running:
            return "stopped"
        if self.stream is None:
            return "running"
        return _STATES[self.stream.state]

    @property
    def api(self) -> DingtalkApi:
        if self._api is None:
            raise ChannelError("DingTalk channel is not started", retry_after=0)
        return self._api

    # --- Channel protocol -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session; in Stream mode start connecting (returns at once)."""
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession()
        self._api = DingtalkApi(
            self._session,
            app_key=self.app_key,
            app_secret=self._app_secret,
            robot_code=self.robot_code,
            api_url=self.api_url,
            oapi_url=self.oapi_url,
        )
        self._stopping.clear()
        self._running = True
        if self.mode == "stream":
            options = (
                {} if self._reconnect_base is None else {"reconnect_base": self._reconnect_base}
            )
            self.stream = DingtalkStream(
                self._session,
                client_id=self.app_key,
                client_secret=self._app_secret,
                handler=self._on_frame,
                api_url=self.api_url,
                **options,  # type: ignore[arg-type]
            )
            self._stream_task = asyncio.create_task(self.stream.run(), name="dingtalk-stream")

    async def stop(self) -> None:
        self._stopping.set()
        self._running = False
        # Messages still waiting for the pump are not acked 200: DingTalk delivers them again
        # (and the ledger drops any that was committed after all).
        for handled in list(self._pending.values()):
            if not handled.done():
                handled.set_result(False)
        if self.stream is not None:
            await self.stream.stop()
        if self._stream_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._stream_task), 5.0)
            except TimeoutError:
                self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
        self._stream_task = None
        self.stream = None
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._api = None

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        for index in range(self.part_count(message)):
            await self.send_part(to, message, index)

    def part_count(self, message: Outgoing) -> int:
        return len(parts_of(message))

    async def send_part(self, to: ChatKey, message: Outgoing, index: int) -> None:
        if to.chat_id.startswith(OUTSIDER):
            # batchSend needs a staffId, which a sender outside the organisation has not.
            raise ChannelError("DingTalk: no staffId to send to (outside the organisation)")
        part = parts_of(message)[index]
        api = self.api
        if part is None:
            document = message.document
            assert document is not None
            media_id = await api.upload_media(document.filename, document.content)
            part = file_message(media_id, document.filename, _file_type(document.filename))
        try:
            if to.chat_id != to.user_id:
                await api.send_to_group(to.chat_id, part)
            else:
                await api.send_to_user(to.chat_id, part)
        except DingtalkApiError as error:
            self.last_error = str(error)
            raise

    def updates(self) -> AsyncGenerator[Incoming, None]:
        return self._one_by_one(self.update_batches())

    async def _one_by_one(
        self, batches: AsyncGenerator[Sequence[Incoming], None]
    ) -> AsyncGenerator[Incoming, None]:
        try:
            async for batch in batches:
                for incoming in batch:
                    yield incoming
        finally:
            await batches.aclose()

    async def update_batches(self) -> AsyncGenerator[Sequence[Incoming], None]:
        """The messages waiting, together; each acked (or answered) once handled."""
        while not self._stopping.is_set():
            taken = asyncio.ensure_future(self._queue.get())
            stopping = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({taken, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (taken, stopping):
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            if taken.cancelled():
                return
            waiting = [taken.result()]
            while not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            try:
                yield [incoming for incoming, _ in waiting]
            except BaseException:
                _settle(waiting, False)
                raise
            _settle(waiting, True)

    # --- incoming ---------------------------------------------------------------------------

    def to_incoming(self, message: IncomingRobotMessage) -> Incoming | None:
        """The update a robot message is, or None for one not handed on."""
        now = self._clock()
        staff = message.sender_staff_id
        if staff is None:
            # Outside the organisation: no staffId to bind or to send to. In a group it is a
            # stranger (its text not read, so no invite code of theirs binds), answered in
            # the group; one-to-one nothing could reach them (and a failed answer would
            # alert the editors), so it is dropped.
            if not message.is_group or self.groups == "ignore" or not message.is_in_at_list:
                logger.info("dingtalk message from outside the organisation dropped")
                return None
            outsider = OUTSIDER + (message.sender_id or message.msg_id)
            key = ChatKey(ChannelKind.DINGTALK, message.conversation_id, outsider)
            return Incoming(key, message.update_id, now)
        if message.is_group:
            if self.groups == "ignore" or not message.is_in_at_list:
                return None
            key = ChatKey(ChannelKind.DINGTALK, message.conversation_id, staff)
        else:
            key = ChatKey(ChannelKind.DINGTALK, staff, staff)
        text = message.text.strip() if message.text is not None else None
        return Incoming(key, message.update_id, now, text=text or None)

    async def _hand_on(self, incoming: Incoming) -> asyncio.Future[bool]:
        """Queue `incoming` for the pump (once, even when delivered again meanwhile)."""
        handled = self._pending.get(incoming.update_id)
        if handled is not None:
            return handled
        handled = asyncio.get_running_loop().create_future()
        self._pending[incoming.update_id] = handled
        update_id = incoming.update_id

        def forget(_: asyncio.Future[bool]) -> None:
            self._pending.pop(update_id, None)

        handled.add_done_callback(forget)
        await self._queue.put((incoming, handled))
        return handled

    async def _on_frame(self, frame: StreamFrame) -> None:
        """A Stream CALLBACK frame: returns once the engine committed it (then it is acked)."""
        try:
            message = parse_robot_message(frame.data_json())
        except (ValueError, DingtalkMessageError) as error:
            reason = error.reason if isinstance(error, DingtalkMessageError) else "not JSON"
            logger.warning("dingtalk message refused", extra={"reason": reason})
            return  # acked: DingTalk would only send the same again
        incoming = self.to_incoming(message)
        if incoming is None:
            return
        handled = await self._hand_on(incoming)
        if not await asyncio.shield(handled):
            raise ChannelError("DingTalk message not handled")  # acked 500: delivered again

    def callback_routes(self, path: str) -> list[web.RouteDef]:
        """POST `path`: DingTalk's HTTP-mode callback (the alternative to Stream mode)."""

        async def receive(request: web.Request) -> web.StreamResponse:
            try:
                try:
                    check_callback_signature(
                        request.headers.get("timestamp"),
                        request.headers.get("sign"),
                        self._app_secret,
                        now_ms=int(time.time() * 1000),
                    )
                except DingtalkMessageError as error:
                    raise webhook.Refused(403, error.reason) from None
                body = await webhook.read_body(request, limit=MAX_BODY, within=self._read_timeout)
                if webhook.nesting_depth_exceeds(body):
                    raise webhook.Refused(400, "JSON nested too deeply")
                try:
                    message = parse_robot_message(json.loads(body))
                except (ValueError, RecursionError):
                    raise webhook.Refused(400, "not JSON") from None
                except DingtalkMessageError as error:
                    raise webhook.Refused(400, error.reason) from None
            except webhook.Refused as refused:
                return await webhook.refusal(request, refused, "dingtalk callback")
            if not self._running:
                return web.Response(status=503)
            incoming = self.to_incoming(message)
            if incoming is None:
                return web.json_response({})
            handled = await self._hand_on(incoming)
            try:
                ok = await asyncio.wait_for(asyncio.shield(handled), self._callback_wait)
            except TimeoutError:
                return web.Response(status=503)  # still queued; a resend is dropped
            return web.json_response({}) if ok else web.Response(status=503)

        return [web.post(path, receive)]


def _settle(waiting: list[tuple[Incoming, asyncio.Future[bool]]], ok: bool) -> None:
    for _, handled in waiting:
        if not handled.done():
            handled.set_result(ok)
