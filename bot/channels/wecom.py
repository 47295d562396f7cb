"""The WeCom channel (企业微信, 政务微信): a self-built application (自建应用).

It translates, over `wecom_api` (the server API) and `wecom_crypto` (the callback's crypto):

- **Callbacks** come to `callback_routes(path)` on zhoubao's aiohttp server. A GET with
  `echostr` is WeCom's check of the URL: answered with the echostr decrypted. A POST carries
  one encrypted message: its signature, ciphertext and corp id are checked (refused 403 and
  logged without content otherwise), the body read within bounds (`MAX_BODY`,
  `webhook.READ_TIMEOUT`), and the update handed to the pump. The answer (an empty 200, "no
  passive reply") waits until the engine committed the update, at most `callback_wait`
  seconds (4: WeCom resends after 5); past that the update stays queued and is handled
  later, and WeCom's resend is dropped by the engine's ledger. Replies go through the outbox.
- **Redelivered callbacks**: a resend that arrives while the first is still queued waits on
  the first (`_pending`); one that arrives later is dropped by the ledger (text by MsgId,
  events by FromUserName + CreateTime, WeCom's advice).
- **Sending**: text in parts of at most 2,048 bytes (`split_text`); choices as a
  button_interaction template card (1–6 buttons, each button's key the choice's value, a
  unique task_id per card) after the text, or as numbered text above 6; a document as its
  text, then the file (uploaded once; its media_id reused for `MEDIA_KEEP` of WeCom's three
  days). WeCom's `enable_duplicate_check` is not used: it drops a message identical to one
  sent within the interval, and a conversation legitimately says the same thing twice (请选择要
  做的事 after each 取消); a resend of the outbox (at least once) may reach the member twice.
  The outbox sends part by part (`PartedChannel`) and paces each member
  (`bot.ratelimit.WECOM_LIMITS`): WeCom drops beyond 30 a minute to one member silently.
- **Updates**: a text as text; a button tap as the button's key (`choice`); a picture, voice
  or file as an update without text (the engine says only text is understood); other events
  (enter_agent, subscribe …) are answered 200 and not handed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

import aiohttp
from aiohttp import web

from bot.channels import webhook
from bot.channels.console import format_outgoing
from bot.channels.wecom_api import (
    CARD_KEY_MAX_BYTES,
    CARD_MAX_BUTTONS,
    DEFAULT_BASE_URL,
    ButtonCard,
    CardButton,
    WecomApi,
    WecomApiError,
    WecomButtonTap,
    WecomCallback,
    WecomCallbackError,
    WecomEnterAgent,
    WecomOther,
    WecomText,
    open_callback,
    split_text,
)
from bot.errors import ChannelError, ConfigError
from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing

if TYPE_CHECKING:
    from bot.channels.wecom_crypto import WecomCrypto
    from bot.config import WecomChannelConfig

logger = logging.getLogger(__name__)

Status = Literal["stopped", "running", "unauthenticated", "unreachable"]

MAX_BODY: Final = 64 * 1024  # a callback body is a few KiB (Content ≤ 2,048 bytes, encrypted)
CALLBACK_WAIT: Final = 4.0  # s the answer waits for the commit; WeCom resends after 5
MEDIA_KEEP: Final = 2.5 * 24 * 3600  # s a media_id is reused (WeCom keeps it three days)
CARD_TITLE: Final = "请选择"  # the card's title; the question is the text above it
CARD_LABEL_MAX: Final = 20  # characters of a button's text shown whole (longer: numbered text)

MSG_EXTRA_MISSING: Final = "企业微信通道需要安装可选依赖：pip install 'zhoubao[wecom]'：{error}"
MSG_NO_SECRET: Final = "启用 wecom 时必须在环境变量 {env} 中提供{what}"


@dataclass(frozen=True, slots=True)
class _Part:
    """One network message of an `Outgoing`: a text, a card of its choices, or its file."""

    kind: Literal["text", "card", "file"]
    text: str = ""


def _use_card(message: Outgoing) -> bool:
    values = [choice.value for choice in message.choices]
    return (
        0 < len(values) <= CARD_MAX_BUTTONS
        and len(set(values)) == len(values)  # a card's keys are unique
        and all(len(choice.label) <= CARD_LABEL_MAX for choice in message.choices)
        and all(0 < len(value.encode("utf-8")) <= CARD_KEY_MAX_BYTES for value in values)
    )


def parts_of(message: Outgoing) -> list[_Part]:
    """What `message` is sent as, in order (the same answer every time for a message)."""
    card = _use_card(message)
    text = message.text if card else format_outgoing(message)
    parts = [_Part("text", piece) for piece in split_text(text) if piece.strip()]
    if card:
        parts.append(_Part("card"))
    if message.document is not None:
        parts.append(_Part("file"))
    return parts


def new_task_id() -> str:
    """A task_id unique per application: time and randomness, digits, letters and _."""
    return f"zb_{time.time_ns()}_{secrets.token_hex(6)}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _load_crypto() -> type[WecomCrypto]:
    try:
        from bot.channels.wecom_crypto import WecomCrypto
    except ImportError as error:  # `cryptography` is the wecom extra
        raise ConfigError(MSG_EXTRA_MISSING.format(error=error), key="channels.wecom") from error
    return WecomCrypto


class WecomChannel:
    """A WeCom self-built application (see the module docstring)."""

    kind = ChannelKind.WECOM

    def __init__(
        self,
        *,
        corp_id: str,
        agent_id: int,
        secret: str,
        callback_token: str,
        encoding_aes_key: str,
        base_url: str = DEFAULT_BASE_URL,
        clock: Callable[[], datetime] = _utc_now,
        callback_wait: float = CALLBACK_WAIT,
        read_timeout: float = webhook.READ_TIMEOUT,
    ) -> None:
        crypto_type = _load_crypto()
        self.crypto = crypto_type(callback_token, encoding_aes_key, corp_id)
        self.crypto.encrypt("check")  # a malformed EncodingAESKey fails here, at start-up
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._secret = secret
        self.base_url = base_url
        self._clock = clock
        self._callback_wait = callback_wait
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self._api: WecomApi | None = None
        self._status: Status = "stopped"
        self.last_error: str | None = None
        self._stopping = asyncio.Event()
        self._queue: asyncio.Queue[tuple[Incoming, asyncio.Future[bool]]] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[bool]] = {}  # update_id: its handling
        self._media: OrderedDict[str, tuple[str, float]] = OrderedDict()  # digest: id, when

    @classmethod
    def from_config(
        cls,
        config: WecomChannelConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
        environ: Mapping[str, str] | None = None,
    ) -> WecomChannel:
        """Build the channel from `[channels.wecom]`; the secrets come from the environment."""
        env = os.environ if environ is None else environ
        assert config.corp_id is not None and config.agent_id is not None  # checked on load
        values: dict[str, str] = {}
        for key, env_name, what in (
            ("secret", config.secret_env, "应用的 Secret"),
            ("callback_token", config.callback_token_env, "接收消息的 Token"),
            ("encoding_aes_key", config.aes_key_env, "接收消息的 EncodingAESKey"),
        ):
            value = env.get(env_name, "")
            if not value:
                raise ConfigError(
                    MSG_NO_SECRET.format(env=env_name, what=what),
                    key=f"channels.wecom.{key.replace('encoding_aes_key', 'aes_key')}_env",
                )
            values[key] = value
        try:
            return cls(
                corp_id=config.corp_id,
                agent_id=config.agent_id,
                secret=values["secret"],
                callback_token=values["callback_token"],
                encoding_aes_key=values["encoding_aes_key"],
                base_url=config.base_url,
                clock=clock,
            )
        except ConfigError:
            raise
        except Exception as error:  # WecomCryptoError: an EncodingAESKey that is not one
            raise ConfigError(
                f"环境变量 {config.aes_key_env} 中的 EncodingAESKey 无效（应为 43 个字符）",
                key="channels.wecom.aes_key_env",
            ) from error

    # --- state ------------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        """ "running"; "unauthenticated" when WeCom refused the corp id or secret at start;
        "unreachable" when the token could not be fetched then; "stopped"."""
        return self._status

    @property
    def api(self) -> WecomApi:
        if self._api is None:
            raise ChannelError("WeCom channel is not started", retry_after=0)
        return self._api

    # --- Channel protocol -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and fetch a token (which checks the corp id and secret).

        A refused secret is logged and shown by `status`; the channel still takes callbacks,
        and sends fail (and are retried or given up on by the outbox's rules).
        """
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._api = WecomApi(
                self._session,
                corp_id=self.corp_id,
                secret=self._secret,
                agent_id=self.agent_id,
                base_url=self.base_url,
            )
        self._stopping.clear()
        self._status = "running"
        try:
            await self.api.access_token()
            self.last_error = None
        except WecomApiError as error:
            self.last_error = str(error)
            self._status = "unreachable" if error.retry_after is not None else "unauthenticated"
            logger.warning("wecom token not fetched at start", extra={"errcode": error.errcode})

    async def stop(self) -> None:
        self._stopping.set()
        self._status = "stopped"
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
        part = parts_of(message)[index]
        api = self.api
        user = to.chat_id
        if part.kind == "text":
            await api.send_text(user, part.text)
        elif part.kind == "card":
            card = ButtonCard(
                title=CARD_TITLE,
                buttons=tuple(CardButton(c.label, c.value) for c in message.choices),
                task_id=new_task_id(),
            )
            await api.send_button_card(user, card)
        else:
            assert message.document is not None
            media_id = await self._media_id(message.document.filename, message.document.content)
            await api.send_file(user, media_id)
        if self._status != "running" and self._status != "stopped":
            self._status, self.last_error = "running", None  # WeCom answers again

    async def _media_id(self, filename: str, content: bytes) -> str:
        """The media_id of this file, uploaded once and reused for `MEDIA_KEEP` seconds."""
        digest = hashlib.sha256(filename.encode("utf-8") + b"\0" + content).hexdigest()
        now = time.monotonic()
        kept = self._media.get(digest)
        if kept is not None and now - kept[1] < MEDIA_KEEP:
            return kept[0]
        media_id = await self.api.upload_media(filename, content)
        self._media[digest] = (media_id, now)
        while len(self._media) > 256:
            self._media.popitem(last=False)
        return media_id

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
        """The callbacks waiting, together; each answered once the batch was handled."""
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

    # --- callbacks --------------------------------------------------------------------------

    def to_incoming(self, callback: WecomCallback) -> Incoming | None:
        """The update a verified callback is, or None for one not handed on."""
        if callback.agent_id is not None and callback.agent_id != self.agent_id:
            logger.warning("wecom callback for another agent ignored")
            return None
        key = ChatKey(ChannelKind.WECOM, callback.from_user, callback.from_user)
        now = self._clock()
        if isinstance(callback, WecomText):
            return Incoming(key, callback.update_id, now, text=callback.content)
        if isinstance(callback, WecomButtonTap):
            return Incoming(key, callback.update_id, now, choice=callback.key)
        if isinstance(callback, WecomEnterAgent):
            return None
        assert isinstance(callback, WecomOther)
        if callback.msg_type == "event":
            return None
        return Incoming(key, callback.update_id, now)  # a picture, voice …: not text

    async def handle_callback(self, body: bytes, query: Mapping[str, str]) -> int:
        """Take one callback POST; return the HTTP status (200 once handled or queued)."""
        if self._status == "stopped":
            return 503
        try:
            callback = open_callback(self.crypto, body.decode("utf-8"), query)
        except UnicodeDecodeError:
            return _refused(400, "body is not UTF-8")
        except WecomCallbackError as error:
            return _refused(400, error.reason)
        except Exception as error:  # WecomCryptoError: signature, ciphertext, corp id
            return _refused(403, str(error))
        incoming = self.to_incoming(callback)
        if incoming is None:
            return 200
        handled = self._pending.get(incoming.update_id)
        if handled is None:
            handled = asyncio.get_running_loop().create_future()
            self._pending[incoming.update_id] = handled
            update_id = incoming.update_id

            def forget(_: asyncio.Future[bool]) -> None:
                self._pending.pop(update_id, None)

            handled.add_done_callback(forget)
            await self._queue.put((incoming, handled))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(handled), self._callback_wait)
        # Handled, or still queued and handled later: either way WeCom need not resend.
        return 200

    def callback_routes(self, path: str) -> list[web.RouteDef]:
        """GET `path`: WeCom's check of the URL; POST `path`: the callbacks."""

        async def check_url(request: web.Request) -> web.StreamResponse:
            query = request.query
            try:
                echo = self.crypto.verify_url(
                    query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"]
                )
            except KeyError:
                return web.Response(status=_refused(400, "URL check without its parameters"))
            except Exception as error:  # WecomCryptoError
                return web.Response(status=_refused(403, f"URL check: {error}"))
            logger.info("wecom callback URL checked")
            return web.Response(text=echo)

        async def receive(request: web.Request) -> web.StreamResponse:
            try:
                body = await webhook.read_body(request, limit=MAX_BODY, within=self._read_timeout)
            except webhook.Refused as refused:
                return await webhook.refusal(request, refused, "wecom callback")
            return web.Response(status=await self.handle_callback(body, request.query))

        return [web.get(path, check_url), web.post(path, receive)]


def _refused(status: int, reason: str) -> int:
    logger.warning(
        "wecom callback refused: %d %s",
        status,
        reason,
        extra={"status": status, "reason": reason},
    )
    return status


def _settle(waiting: list[tuple[Incoming, asyncio.Future[bool]]], ok: bool) -> None:
    for _, handled in waiting:
        if not handled.done():
            handled.set_result(ok)
