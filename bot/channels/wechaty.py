"""The WeChat channel: a Wechaty puppet service reached with the Python puppet-service client.

WeChat is text only here, so choices go out as numbered lines (`format_outgoing`) and the
engine maps a typed number or label back to the choice. Documents go out as file messages.

- Private chats: every message of a contact is handed on, ChatKey(chat_id=user_id=contact id).
- Group chats (`rooms` in `[channels.wechat]`): "mention" (default) hands on only messages
  that @-mention the bot, with the mention removed from the text; "all" hands on every
  message; "ignore" none. ChatKey(chat_id=room id, user_id=sender id).
- Non-text messages (pictures, voice, files …) are handed on with text=None so the engine
  answers that only text is understood; recalled and unknown system messages are dropped.
- The bot's own messages come back as events from the service and are dropped.

The client's `start()` never returns (it loops on the event stream), so it runs as a task and
is started again with exponential backoff (0.5 s doubling to 30 s) whenever the stream ends:
peer restart, network loss, gateway crash. While it is down `send` raises a transient
`ChannelError` so the outbox keeps the message and retries it. A rejected token
(gRPC UNAUTHENTICATED) is not retried: `status` becomes "unauthenticated".

The client (extra `zhoubao[wechat]`, Python 3.11–3.12) is imported only when the channel is
built, so nothing else in zhoubao depends on it. It speaks plain gRPC without TLS: run the
gateway on the same host or a private link.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import json
import logging
import os
import re
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Final, Literal

from bot.channels.console import format_outgoing
from bot.config import WechatChannelConfig
from bot.errors import ChannelError, ConfigError
from handlers.types import ChannelKind, ChatKey, Document, Incoming, Outgoing

logger = logging.getLogger(__name__)

RoomPolicy = Literal["mention", "all", "ignore"]
Status = Literal[
    "stopped", "connecting", "connected", "logged_in", "disconnected", "unauthenticated"
]

MIN_BACKOFF: Final = 0.5  # seconds before the first reconnection attempt
MAX_BACKOFF: Final = 30.0
CONNECT_TIMEOUT: Final = 3.0  # reaching the endpoint's TCP port
CALL_TIMEOUT: Final = 15.0  # one gRPC call (payload lookup, send)
PAYLOAD_ATTEMPTS: Final = 3  # a message's payload is looked up again after a reconnection

MSG_EXTRA_MISSING: Final = (
    "微信通道需要安装可选依赖：pip install 'zhoubao[wechat]'（仅支持 Python 3.11–3.12）：{error}"
)
MSG_NO_ENDPOINT: Final = "启用 wechat 时必须填写 channels.wechat.endpoint"
MSG_NO_TOKEN: Final = "启用 wechat 时必须在环境变量 {env} 中提供 puppet 服务的 token"

# gRPC status codes (grpclib.const.Status) after which a send may succeed later.
_TRANSIENT_STATUS: Final = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED"}
)
# The client's own loggers print straight to stderr, one of them the token: route them into
# the application's logging at WARNING and drop that line.
_CLIENT_LOGGERS: Final = (
    "PuppetService",
    "WechatyPuppetServiceConfig",
    "FileBox",
    "WechatyPuppet.Schemas.Event",
    "WechatyPuppet.Schema.Base",
)


class _HideToken(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "token" not in str(record.msg).lower()


def _load_client() -> SimpleNamespace:
    """Import the puppet-service client and what it needs, or explain how to install it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # telnetlib, on Python 3.11+
            service = importlib.import_module("wechaty_puppet_service")
        puppet = importlib.import_module("wechaty_puppet")
        exceptions = importlib.import_module("grpclib.exceptions")
    except ImportError as error:  # also telnetlib's absence on Python 3.13+
        raise ConfigError(MSG_EXTRA_MISSING.format(error=error), key="channels.wechat") from error
    for name in _CLIENT_LOGGERS:
        client_logger = logging.getLogger(name)
        client_logger.handlers = []
        client_logger.propagate = True
        client_logger.setLevel(logging.WARNING)
        if not any(isinstance(f, _HideToken) for f in client_logger.filters):
            client_logger.addFilter(_HideToken())
    return SimpleNamespace(
        PuppetService=service.PuppetService,
        PuppetOptions=puppet.PuppetOptions,
        MessageType=puppet.MessageType,
        GRPCError=exceptions.GRPCError,
        StreamTerminatedError=exceptions.StreamTerminatedError,
    )


def _parts(message: Outgoing) -> list[str | None]:
    """What `message` is sent as: its text (if any), then None for the document's file."""
    text = format_outgoing(message)
    parts: list[str | None] = [text] if text.strip() else []
    if message.document is not None:
        parts.append(None)
    return parts


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"channels.wechat.endpoint 应为 主机:端口，如 127.0.0.1:8788：{endpoint}")
    return host.strip("[]"), int(port)


class _Base64File:
    """What the client's `message_send_file` needs of a FileBox: its JSON (file-box's format).

    The client's own FileBox logs the file name and warns on serialisation; this is the same
    JSON, a base64 box (type 1; `boxType` for older gateways).
    """

    def __init__(self, document: Document) -> None:
        self._document = document

    def to_json_str(self) -> str:
        return json.dumps(
            {
                "type": 1,
                "boxType": 1,
                "name": self._document.filename,
                "mediaType": self._document.media_type,
                "base64": base64.b64encode(self._document.content).decode("ascii"),
            },
            ensure_ascii=False,
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WechatChannel:
    """WeChat through a Wechaty puppet service (see the module docstring)."""

    kind = ChannelKind.WECHAT

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        rooms: RoomPolicy = "mention",
        clock: Callable[[], datetime] = _utc_now,
        min_backoff: float = MIN_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        if not token:
            raise ConfigError(MSG_NO_TOKEN.format(env="ZHOUBAO_WECHAT_TOKEN"))
        self._host, self._port = _split_endpoint(endpoint)
        self.endpoint = endpoint
        self._token = token
        self.rooms: RoomPolicy = rooms
        self._clock = clock
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._call_timeout = call_timeout
        self._client: SimpleNamespace | None = None

        self._status: Status = "stopped"
        self.last_error: str | None = None  # why the last connection ended, for `status`
        self.self_id: str | None = None  # the bot's own contact id while logged in
        self._self_name: str | None = None
        self._puppet: Any = None  # the PuppetService of the live connection
        self._logged_in = asyncio.Event()
        self._stopping = False
        self._run_task: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[tuple[Any, str]] = asyncio.Queue()
        self._incoming: asyncio.Queue[Incoming | None] = asyncio.Queue()
        self._names: dict[str, str] = {}  # contact id -> display name

    @classmethod
    def from_config(
        cls,
        config: WechatChannelConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
        environ: Mapping[str, str] | None = None,
    ) -> WechatChannel:
        """Build the channel from `[channels.wechat]`; the token comes from `token_env`."""
        env = os.environ if environ is None else environ
        if config.endpoint is None:
            raise ConfigError(MSG_NO_ENDPOINT, key="channels.wechat.endpoint")
        token = env.get(config.token_env, "")
        if not token:
            raise ConfigError(
                MSG_NO_TOKEN.format(env=config.token_env), key="channels.wechat.token_env"
            )
        return cls(config.endpoint, token, rooms=config.rooms, clock=clock)

    # --- state ------------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        """One of "stopped", "connecting", "connected" (stream up, logged out), "logged_in",
        "disconnected" (waiting to reconnect) or "unauthenticated" (token rejected)."""
        return self._status

    @property
    def logged_in(self) -> bool:
        return self._status == "logged_in"

    async def wait_logged_in(self, seconds: float) -> None:
        """Wait until logged in; ChannelError if the token is rejected or after `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._logged_in.is_set():
            if self._status == "unauthenticated":
                raise ChannelError(f"WeChat: {self.last_error}")
            left = deadline - loop.time()
            if left <= 0:
                raise ChannelError(f"WeChat: not logged in after {seconds:g} s ({self._status})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._logged_in.wait(), min(left, 0.05))

    # --- Channel protocol -------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; returns at once (see `wait_logged_in`)."""
        if self._run_task is not None:
            return
        self._client = _load_client()
        self._stopping = False
        self._status = "connecting"
        self._worker_task = asyncio.create_task(self._work(), name="wechat-messages")
        self._run_task = asyncio.create_task(self._run(), name="wechat-connection")

    async def stop(self) -> None:
        self._stopping = True
        # Close the connection first: a pending call or the event stream then fails at once.
        self._close(self._puppet)
        self._puppet = None
        for task in (self._run_task, self._worker_task):
            if task is None:
                continue
            # The client can swallow one cancellation (its start() awaits again in a
            # `finally`), so cancel until the task has really ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._run_task = self._worker_task = None
        self._set_logged_out()
        self._status = "stopped"
        self._incoming.put_nowait(None)  # ends updates()

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        for index in range(self.part_count(message)):
            await self.send_part(to, message, index)

    def part_count(self, message: Outgoing) -> int:
        """The text (when there is any), then the document's file."""
        return len(_parts(message))

    async def send_part(self, to: ChatKey, message: Outgoing, index: int) -> None:
        puppet = self._puppet
        if puppet is None or not self.logged_in:
            raise ChannelError(f"WeChat is not connected ({self._status})", retry_after=0)
        part = _parts(message)[index]
        if part is None:
            assert message.document is not None
            await self._call(puppet.message_send_file(to.chat_id, _Base64File(message.document)))
        else:
            await self._call(puppet.message_send_text(to.chat_id, part))

    async def updates(self) -> AsyncIterator[Incoming]:
        async for batch in self.update_batches():
            for update in batch:
                yield update

    async def update_batches(self) -> AsyncIterator[Sequence[Incoming]]:
        """The messages queued when asked, together (see `BatchingChannel`)."""
        while True:
            batch: list[Incoming] = []
            update = await self._incoming.get()
            while update is not None:
                batch.append(update)
                if self._incoming.empty():
                    break
                update = self._incoming.get_nowait()
            if batch:
                yield batch
            if update is None:
                return

    # --- sending ----------------------------------------------------------------------------

    async def _call(self, call: Any) -> Any:
        """Await one gRPC call; translate its failure into a ChannelError."""
        assert self._client is not None
        client = self._client
        try:
            return await asyncio.wait_for(call, self._call_timeout)
        except client.GRPCError as error:
            status = getattr(error.status, "name", str(error.status))
            transient = status in _TRANSIENT_STATUS
            raise ChannelError(
                f"WeChat send failed: {status} {error.message or ''}".strip(),
                retry_after=0 if transient else None,
            ) from error
        except (client.StreamTerminatedError, OSError, TimeoutError) as error:
            raise ChannelError(f"WeChat send failed: {error!r}", retry_after=0) from error
        except Exception as error:
            if self._puppet is None or not self.logged_in:  # the connection went meanwhile
                raise ChannelError(f"WeChat send failed: {error!r}", retry_after=0) from error
            raise ChannelError(f"WeChat send failed: {error!r}") from error

    # --- the connection ---------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, listen until the stream ends, reconnect with backoff; forever until stop."""
        assert self._client is not None
        client = self._client
        delay = self._min_backoff
        while not self._stopping:
            self._status = "connecting"
            puppet: Any = None
            try:
                await self._check_reachable()
                puppet = client.PuppetService(
                    client.PuppetOptions(end_point=self.endpoint, token=self._token)
                )
                self._listen(puppet)
                self._puppet = puppet
                await puppet.start()  # returns only when the stream ends cleanly
                self.last_error = "event stream ended"
            except asyncio.CancelledError:
                raise
            except client.GRPCError as error:
                status = getattr(error.status, "name", str(error.status))
                self.last_error = f"{status}: {error.message or ''}".strip()
                if status == "UNAUTHENTICATED":
                    logger.error(
                        "wechat token rejected by the puppet service (UNAUTHENTICATED)",
                        extra={"endpoint": self.endpoint},
                    )
                    self._status = "unauthenticated"
                    self._close(puppet)
                    self._puppet = None
                    self._set_logged_out()
                    return
            except Exception as error:  # StreamTerminatedError, refused connection, …
                self.last_error = f"{type(error).__name__}: {error}"
            was_logged_in = self.self_id is not None
            self._close(puppet)
            self._puppet = None
            self._set_logged_out()
            if self._stopping:
                return
            self._status = "disconnected"
            if was_logged_in:
                delay = self._min_backoff  # a working connection resets the backoff
            logger.warning(
                "wechat disconnected",
                extra={"endpoint": self.endpoint, "error": self.last_error, "retry_in": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _check_reachable(self) -> None:
        # The client checks the port with a blocking telnet (3 s); do it without blocking first.
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port), CONNECT_TIMEOUT
        )
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    def _listen(self, puppet: Any) -> None:
        # Synchronous handlers: pyee calls them in the order the stream delivers the events.
        def on_message(payload: Any) -> None:
            self._events.put_nowait((puppet, payload.message_id))

        def on_login(payload: Any) -> None:
            if puppet is not self._puppet:
                return
            self.self_id = payload.contact_id
            self._self_name = None
            self._status = "logged_in"
            self._logged_in.set()
            logger.info("wechat logged in", extra={"self_id": payload.contact_id})

        def on_logout(payload: Any) -> None:
            if puppet is not self._puppet:
                return
            logger.warning("wechat logged out", extra={"self_id": payload.contact_id})
            self._set_logged_out()
            self._status = "connected"

        def on_error(payload: Any) -> None:
            logger.warning("wechat puppet reported an error")

        puppet.on("message", on_message)
        puppet.on("login", on_login)
        puppet.on("logout", on_logout)
        puppet.on("error", on_error)

    def _set_logged_out(self) -> None:
        self.self_id = None
        self._self_name = None
        self._logged_in.clear()

    @staticmethod
    def _close(puppet: Any) -> None:
        """Close the connection without asking the remote puppet to stop."""
        if puppet is None:
            return
        with contextlib.suppress(Exception):
            puppet._event_stream.remove_all_listeners()
        channel = getattr(puppet, "channel", None)
        if channel is not None:
            with contextlib.suppress(Exception):
                channel.close()
            puppet.channel = None

    # --- incoming messages ------------------------------------------------------------------

    async def _work(self) -> None:
        """Turn message events into Incoming, one at a time, in the order they came."""
        while True:
            puppet, message_id = await self._events.get()
            try:
                update = await self._translate(puppet, message_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("wechat message dropped", extra={"update_id": message_id})
                continue
            if update is not None:
                self._incoming.put_nowait(update)

    async def _payload(self, puppet: Any, message_id: str) -> Any:
        """The message's payload; looked up again on the next connection if this one died."""
        for attempt in range(PAYLOAD_ATTEMPTS):
            current = puppet if attempt == 0 else self._puppet
            try:
                if current is None:
                    raise ConnectionError("not connected")
                return await asyncio.wait_for(
                    current.message_payload(message_id), self._call_timeout
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == PAYLOAD_ATTEMPTS - 1:
                    raise
                with contextlib.suppress(ChannelError):
                    await self.wait_logged_in(self._max_backoff * 2)
        raise AssertionError("unreachable")

    async def _translate(self, puppet: Any, message_id: str) -> Incoming | None:
        assert self._client is not None
        message_type = self._client.MessageType
        payload = await self._payload(puppet, message_id)
        self_id = self.self_id or getattr(puppet, "login_user_id", None)
        sender = payload.from_id
        if not sender or sender == self_id:
            return None  # the bot's own message, echoed back
        kind = int(payload.type)
        if kind in (
            int(message_type.MESSAGE_TYPE_UNSPECIFIED),
            int(message_type.MESSAGE_TYPE_RECALLED),
        ):
            return None
        text: str | None = payload.text if kind == int(message_type.MESSAGE_TYPE_TEXT) else None
        room_id = payload.room_id or ""
        if room_id:
            if self.rooms == "ignore":
                return None
            name = await self._own_name(puppet)
            mentioned = bool(self_id and self_id in (payload.mention_ids or [])) or bool(
                name and text and f"@{name}" in text
            )
            if self.rooms == "mention" and not mentioned:
                return None
            if text is not None and name:
                text = strip_mention(text, name)
            key = ChatKey(ChannelKind.WECHAT, room_id, sender)
        else:
            key = ChatKey(ChannelKind.WECHAT, sender, sender)
        return Incoming(
            key=key,
            update_id=payload.id or message_id,
            received_at=self._clock(),
            text=text,
            display_name=await self._display_name(puppet, sender),
        )

    async def _own_name(self, puppet: Any) -> str | None:
        if self._self_name is None and self.self_id:
            self._self_name = await self._display_name(puppet, self.self_id) or None
        return self._self_name

    async def _display_name(self, puppet: Any, contact_id: str) -> str:
        if contact_id not in self._names:
            try:
                contact = await asyncio.wait_for(
                    puppet.contact_payload(contact_id), self._call_timeout
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                return ""
            self._names[contact_id] = contact.name or ""
        return self._names[contact_id]


_MENTION_END: Final = "[\u2005\u0020\u00a0]?"  # WeChat puts a four-per-em space after @name


def strip_mention(text: str, name: str) -> str:
    """Remove every `@name` (and the space WeChat puts after it) and trim the result."""
    return re.sub(f"@{re.escape(name)}{_MENTION_END}", "", text).strip()
