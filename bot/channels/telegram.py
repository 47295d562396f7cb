"""The Telegram channel: python-telegram-bot's `Bot` talking to the Bot API.

Incoming: text messages and taps on inline buttons (callback queries) become `Incoming`;
every callback query is answered here at once so the person's button stops spinning.
Outgoing: plain text (never a parse_mode: what people typed must not turn into markup),
choices as an inline keyboard of one button per row, texts longer than Telegram allows
split into several messages, documents as files.

Updates arrive by long polling (`getUpdates`) or by webhook. Polling keeps its offset in
the database and saves it only after a batch was handed on, so after a crash the last
batch comes again and the engine's update ledger drops what it already handled.

The library retries nothing here: a failed send raises `ChannelError` and the outbox
decides (retry_after None: permanent; 0: transient, back off; > 0: Telegram's wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from bot.channels import telegram_messages as wording
from bot.channels import webhook
from bot.channels.cursor_store import CursorStore, DatabaseCursors
from bot.channels.pump import pump_updates
from bot.config import TelegramChannelConfig
from bot.errors import ChannelError, ConfigError
from bot.outage import database_outage
from handlers.types import ChannelKind, ChatKey, Choice, Incoming, Outgoing

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.telegram.org/bot"
DEFAULT_BASE_FILE_URL: Final = "https://api.telegram.org/file/bot"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT: Final = 4096  # Bot API limit of one message, in UTF-16 code units
MAX_CAPTION: Final = 1024
MAX_CALLBACK_DATA: Final = 64  # bytes
ALLOWED_UPDATES: Final = ("message", "callback_query")
POLL_TIMEOUT: Final = 30  # seconds Telegram holds a getUpdates open
MIN_POLL_BACKOFF: Final = 1.0
MAX_POLL_BACKOFF: Final = 30.0
WEBHOOK_WAIT: Final = 25.0  # seconds a webhook call waits for its update to be handled
SECRET_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts

Mode = Literal["polling", "webhook"]


# --- Translation. --------------------------------------------------------------------------


def to_incoming(update: Update, received_at: datetime) -> Incoming | None:
    """Translate a Telegram update; None for what zhoubao does not take (edits, joins …)."""
    update_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        if query.data is None:
            return None  # a game button; zhoubao never sends those
        user = query.from_user
        # Without the message (too old to be shown) the private chat's id is the user's.
        chat_id = query.message.chat.id if query.message is not None else user.id
        return Incoming(
            key=ChatKey(ChannelKind.TELEGRAM, str(chat_id), str(user.id)),
            update_id=update_id,
            received_at=received_at,
            choice=query.data,
            display_name=user.full_name,
        )
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    text = message.text if message.text is not None else message.caption
    if text is None and message.chat.type != ChatType.PRIVATE:
        return None  # group service messages (joins, pins) are not meant for zhoubao
    return Incoming(
        key=ChatKey(ChannelKind.TELEGRAM, str(message.chat.id), str(message.from_user.id)),
        update_id=update_id,
        received_at=received_at,
        text=text,
        display_name=message.from_user.full_name,
    )


def keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup | None:
    """One inline button per row, its callback data the choice's value."""
    if not choices:
        return None
    for choice in choices:
        if len(choice.value.encode()) > MAX_CALLBACK_DATA:
            raise ChannelError(f"choice value longer than {MAX_CALLBACK_DATA} bytes", None)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(choice.label, callback_data=choice.value)] for choice in choices]
    )


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """Number of characters of `text` that fit into `limit` UTF-16 code units."""
    used = 0
    for index, character in enumerate(text):
        used += 2 if ord(character) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split `text` into pieces of at most `limit`: at paragraphs, else lines, else anywhere.

    The blank line or line break a piece was split at is dropped, so pieces split at
    paragraphs join back with "\\n\\n".
    """
    pieces: list[str] = []
    rest = text
    while telegram_length(rest) > limit:
        fits = _fitting_prefix(rest, limit)
        for separator in ("\n\n", "\n"):
            # The separator itself is dropped, so it may end just past the limit.
            cut = rest.rfind(separator, 0, fits + len(separator))
            if cut > 0:
                pieces.append(rest[:cut])
                rest = rest[cut + len(separator) :]
                break
        else:
            pieces.append(rest[:fits])
            rest = rest[fits:]
    pieces.append(rest)
    return pieces


def _parts(message: Outgoing) -> list[str | None]:
    """The parts `message` is sent as: text pieces, and None for the document.

    A document whose text fits a caption is one part; otherwise the text goes first, split
    at 4,096, and the file after it.
    """
    document = message.document
    if document is not None and telegram_length(message.text) <= MAX_CAPTION:
        return [None]
    parts: list[str | None] = list(split_text(message.text))
    if document is not None:
        parts.append(None)
    return parts


def retry_seconds(error: RetryAfter) -> float:
    """Telegram's wait in seconds; the library gives an int today and a timedelta later."""
    with warnings.catch_warnings():
        # Reading it as an int warns about the coming timedelta; both are handled here.
        warnings.simplefilter("ignore", DeprecationWarning)
        value: int | float | timedelta = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def channel_error(error: TelegramError, token: str = "") -> ChannelError:
    """Map a library error to the outbox's retry semantics."""
    # The library's messages can quote the token (InvalidToken does): keep it out of the
    # outbox table, where the detail is stored.
    detail = f"{type(error).__name__}: {error.message}"
    if token:
        detail = detail.replace(token, "<token>")
    if isinstance(error, RetryAfter):
        return ChannelError(detail, retry_seconds(error))
    if isinstance(error, Forbidden | BadRequest | ChatMigrated | EndPointNotFound):
        return ChannelError(detail, None)  # blocked, bad chat or message: retrying won't help
    if isinstance(error, NetworkError):
        return ChannelError(detail, 0)  # 5xx, timeouts, connection errors
    return ChannelError(detail, 0)  # InvalidToken, Conflict …: let the outbox back off


# --- The channel. --------------------------------------------------------------------------


class TelegramChannel:
    """One Telegram bot as a zhoubao channel (see the module docstring)."""

    kind = ChannelKind.TELEGRAM

    def __init__(
        self,
        token: str,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        clock: Callable[[], datetime],
        cursors: CursorStore | None = None,
        mode: Mode = "polling",
        base_url: str = DEFAULT_BASE_URL,
        base_file_url: str = DEFAULT_BASE_FILE_URL,
        poll_timeout: int = POLL_TIMEOUT,
        poll_backoff: float = MIN_POLL_BACKOFF,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_wait: float = WEBHOOK_WAIT,
        webhook_read_timeout: float = webhook.READ_TIMEOUT,
        webhook_max_body: int = webhook.MAX_BODY,
        cursor_name: str = ChannelKind.TELEGRAM.value,
    ) -> None:
        if mode == "webhook" and not webhook_secret:
            raise ValueError("webhook mode needs a webhook_secret")
        self._token = token
        # Where the polling offset is kept; given by the runtime, or the database's by default.
        if cursors is None and sessions is not None:
            cursors = DatabaseCursors(sessions, clock)
        self._cursors = cursors
        self._clock = clock
        self.mode: Mode = mode
        self._poll_timeout = poll_timeout
        self._poll_backoff = poll_backoff  # first wait after a failed getUpdates
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._webhook_wait = webhook_wait
        self._webhook_read_timeout = webhook_read_timeout
        self._webhook_max_body = webhook_max_body
        self._cursor_name = cursor_name
        # Two request objects: a long poll must not hold up sends (the library requires it).
        self.bot = Bot(
            token,
            base_url=base_url,
            base_file_url=base_file_url,
            request=HTTPXRequest(connection_pool_size=8),
            get_updates_request=HTTPXRequest(connection_pool_size=1),
        )
        self._offset: int | None = None
        self._poll_task: asyncio.Future[tuple[Update, ...]] | None = None
        self._started = False
        self._stopping = asyncio.Event()
        self._webhook_queue: asyncio.Queue[tuple[Incoming, asyncio.Future[bool]]] = asyncio.Queue()

    @classmethod
    def from_config(
        cls,
        config: TelegramChannelConfig,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        clock: Callable[[], datetime],
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> TelegramChannel:
        """Build the channel from `[channels.telegram]`; secrets come from the environment.

        The token is read from `token_file` when set, else from the variable `token_env`;
        in webhook mode the secret from `webhook_secret_env`. `options` go to the constructor
        (e.g. `base_url` for a local Bot API server).
        """
        env = os.environ if environ is None else environ
        if config.token_file is not None:
            try:
                token = config.token_file.read_text("utf-8").strip()
            except (OSError, UnicodeDecodeError):
                token = ""
            if not token:
                raise ConfigError(
                    wording.MSG_TOKEN_FILE_UNREADABLE.format(path=config.token_file),
                    key="channels.telegram.token_file",
                )
        else:
            token = env.get(config.token_env, "").strip()
            if not token:
                raise ConfigError(
                    wording.MSG_NO_TOKEN.format(env=config.token_env),
                    key="channels.telegram.token_env",
                )
        secret: str | None = None
        if config.mode == "webhook":
            secret = env.get(config.webhook_secret_env, "")
            if not secret:
                raise ConfigError(
                    wording.MSG_NO_WEBHOOK_SECRET.format(env=config.webhook_secret_env),
                    key="channels.telegram.webhook_secret_env",
                )
            if not SECRET_PATTERN.fullmatch(secret):
                raise ConfigError(
                    wording.MSG_BAD_WEBHOOK_SECRET.format(env=config.webhook_secret_env),
                    key="channels.telegram.webhook_secret_env",
                )
        options.setdefault("base_url", f"{config.api_url}/bot")
        options.setdefault("base_file_url", f"{config.api_url}/file/bot")
        return cls(
            token,
            sessions=sessions,
            clock=clock,
            mode=config.mode,
            webhook_url=config.webhook_url,
            webhook_secret=secret,
            **options,
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token (getMe), then prepare polling or register the webhook."""
        if self._started:
            return
        self._stopping.clear()
        try:
            await self.bot.initialize()
            if self.mode == "polling":
                # Polling fails while a webhook is set; pending updates are kept.
                await self.bot.delete_webhook(drop_pending_updates=False)
            elif self._webhook_url is not None:
                await self.bot.set_webhook(
                    self._webhook_url,
                    secret_token=self._webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                )
        except TelegramError as error:
            raise channel_error(error, self._token) from None
        if self.mode == "polling":
            if self._cursors is None:
                raise ValueError("polling needs a cursor store to keep its offset")
            stored = await self._cursors.load(self._cursor_name)
            self._offset = int(stored) if stored is not None else None
        self._started = True
        logger.info("telegram channel started", extra={"mode": self.mode, "offset": self._offset})

    async def stop(self) -> None:
        """End `updates()` and close the HTTP clients; safe to call twice."""
        self._stopping.set()
        if not self._started:
            return
        self._started = False
        poll = self._poll_task
        if poll is not None and not poll.done():
            # Cancel the long poll before its HTTP client closes under it.
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await poll
        with contextlib.suppress(TelegramError):
            await self.bot.shutdown()
        logger.info("telegram channel stopped")

    # --- sending -----------------------------------------------------------------------

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        for index in range(self.part_count(message)):
            await self.send_part(to, message, index)

    def part_count(self, message: Outgoing) -> int:
        """A text's pieces of 4,096, then the document (1 when the text fits its caption)."""
        return len(_parts(message))

    async def send_part(self, to: ChatKey, message: Outgoing, index: int) -> None:
        """Send part `index`: a piece of the text, or the document; choices go on the last."""
        try:
            chat_id = int(to.chat_id)
        except ValueError:
            raise ChannelError(f"not a Telegram chat id: {to.chat_id!r}", None) from None
        parts = _parts(message)
        piece = parts[index]
        markup = keyboard(message.choices) if index == len(parts) - 1 else None
        try:
            if piece is None:
                document = message.document
                assert document is not None
                caption = (message.text or None) if len(parts) == 1 else None
                await self.bot.send_document(
                    chat_id,
                    InputFile(document.content, filename=document.filename),
                    caption=caption,
                    reply_markup=markup,
                )
            else:
                await self.bot.send_message(chat_id, piece, reply_markup=markup)
        except TelegramError as error:
            logger.info(
                "telegram send failed", extra={"chat_id": to.chat_id, "error": type(error).__name__}
            )
            raise channel_error(error, self._token) from None

    # --- receiving ---------------------------------------------------------------------

    def updates(self) -> AsyncGenerator[Incoming, None]:
        """Yield updates until `stop()`; ask for the next only once the last was handled."""
        return self._one_by_one(self.update_batches())

    def update_batches(self) -> AsyncGenerator[Sequence[Incoming], None]:
        """Yield the updates that arrived together; confirm them once the next is asked for."""
        if self.mode == "webhook":
            return self._webhook_batches()
        return self._polled_batches()

    async def _one_by_one(
        self, batches: AsyncGenerator[Sequence[Incoming], None]
    ) -> AsyncGenerator[Incoming, None]:
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for incoming in batch:
                    yield incoming  # resumes only after the consumer handled it
                    if self._stopping.is_set():
                        return  # unconfirmed: the batch comes again after the restart

    async def _polled_batches(self) -> AsyncGenerator[Sequence[Incoming], None]:
        if not self._started:
            raise RuntimeError("start() the channel before reading its updates")
        backoff = self._poll_backoff
        while not self._stopping.is_set():
            try:
                batch = await self._poll()
            except RetryAfter as error:
                await self._pause(retry_seconds(error))
                continue
            except TelegramError as error:
                # The library's own poller retries forever too: Telegram or the network
                # comes back, and nothing is lost meanwhile.
                logger.warning("telegram poll failed", extra={"error": type(error).__name__})
                await self._pause(backoff)
                backoff = min(backoff * 1.5, MAX_POLL_BACKOFF)
                continue
            if batch is None:
                return
            backoff = self._poll_backoff
            accepted = [incoming for update in batch if (incoming := await self._accept(update))]
            if accepted:
                yield accepted  # resumes only after the consumer handled every one
            if batch:
                self._offset = batch[-1].update_id + 1
                await self._save_offset(self._offset)

    async def _poll(self) -> tuple[Update, ...] | None:
        """One getUpdates; None when `stop()` came first."""
        poll = asyncio.ensure_future(
            self.bot.get_updates(
                offset=self._offset,
                timeout=self._poll_timeout,
                allowed_updates=ALLOWED_UPDATES,
            )
        )
        self._poll_task = poll
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._poll_task = None
            for task in (poll, stopping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if poll.cancelled():
            return None
        return poll.result()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if `stop()` comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _save_offset(self, offset: int) -> None:
        try:
            assert self._cursors is not None  # start() checked it
            await self._cursors.save(self._cursor_name, str(offset))
        except Exception as error:
            # Polling goes on with the offset in memory; a restart before the next save
            # only delivers a few batches again, which the ledger drops.
            if not database_outage.failed(error, "saving the Telegram offset"):
                logger.exception("telegram offset not saved", extra={"offset": offset})

    async def _accept(self, update: Update) -> Incoming | None:
        """Translate an update and answer its callback query, if any."""
        incoming = to_incoming(update, self._clock())
        query = update.callback_query
        if query is not None:
            try:
                await self.bot.answer_callback_query(query.id)
            except TelegramError as error:
                # Too late (over ~15 s) or a network hiccup: only the spinner stays longer.
                logger.info(
                    "callback answer failed",
                    extra={"update_id": update.update_id, "error": type(error).__name__},
                )
        if incoming is None:
            logger.info("telegram update ignored", extra={"update_id": update.update_id})
        return incoming

    # --- webhook -----------------------------------------------------------------------

    def webhook_secret_ok(self, header: str | None) -> bool:
        """Whether a webhook call's secret header is the one registered with Telegram."""
        expected = self._webhook_secret
        return expected is not None and webhook.secret_matches(header, expected)

    async def handle_webhook(self, body: bytes) -> int:
        """Take the body of one webhook POST whose secret was right; return the HTTP status.

        200 once the update was handed on and handled (or ignored); 400 for a body that is
        not an update (nested deeper than an update ever is, not JSON, not an object, not
        what Telegram sends); 503 when it could not be handled in time, so that Telegram
        delivers it again.
        """
        if not self._started:
            return 503
        try:
            update = self._parse_update(body)
        except webhook.Refused as refused:
            logger.warning(
                "telegram webhook refused: %d %s",
                refused.status,
                refused.reason,
                extra={"status": refused.status, "reason": refused.reason, "length": len(body)},
            )
            return refused.status
        incoming = await self._accept(update)
        if incoming is None:
            return 200
        handled: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._webhook_queue.put((incoming, handled))
        try:
            ok = await asyncio.wait_for(asyncio.shield(handled), self._webhook_wait)
        except TimeoutError:
            # Still queued and handled later; Telegram's resend is dropped by the ledger.
            return 503
        return 200 if ok else 503

    def _parse_update(self, body: bytes) -> Update:
        if webhook.nesting_depth_exceeds(body):
            raise webhook.Refused(400, "JSON nested too deeply")
        try:
            data: Any = json.loads(body)
        except (ValueError, RecursionError):
            raise webhook.Refused(400, "not JSON") from None
        if not isinstance(data, dict):
            raise webhook.Refused(400, "not a JSON object")
        try:
            update = Update.de_json(data, self.bot)
            to_incoming(update, self._clock())  # what the engine will read must be readable
        except Exception:  # the library's parsing of what is not an update fails in any way
            raise webhook.Refused(400, "not an update") from None
        return update

    def webhook_routes(self, path: str) -> list[web.RouteDef]:
        """Routes to mount on zhoubao's aiohttp server: POST `path` takes Telegram's webhook.

        The secret is checked before the body is read; the body is read within bounds
        (`webhook.read_body`). Run the server with `webhook.server_options()`.
        """

        async def receive(request: web.Request) -> web.StreamResponse:
            try:
                if not self.webhook_secret_ok(request.headers.get(SECRET_HEADER)):
                    raise webhook.Refused(403, "wrong or missing secret")
                body = await webhook.read_body(
                    request, limit=self._webhook_max_body, within=self._webhook_read_timeout
                )
            except webhook.Refused as refused:
                return await webhook.refusal(request, refused, "telegram webhook")
            return web.Response(status=await self.handle_webhook(body))

        return [web.post(path, receive)]

    async def _webhook_batches(self) -> AsyncGenerator[Sequence[Incoming], None]:
        while not self._stopping.is_set():
            taken = asyncio.ensure_future(self._webhook_queue.get())
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
            while not self._webhook_queue.empty():  # the calls that came in meanwhile
                waiting.append(self._webhook_queue.get_nowait())
            try:
                yield [incoming for incoming, _ in waiting]
            except BaseException:
                # The consumer stopped or failed while handling them: let Telegram resend.
                _answer_webhook_calls(waiting, False)
                raise
            _answer_webhook_calls(waiting, True)


def _answer_webhook_calls(waiting: list[tuple[Incoming, asyncio.Future[bool]]], ok: bool) -> None:
    for _, handled in waiting:
        if not handled.done():
            handled.set_result(ok)


async def run_telegram(
    channel: TelegramChannel,
    handle: Callable[[Incoming], Awaitable[object]],
    stop: asyncio.Event,
    *,
    retry_delay: float = 1.0,
) -> None:
    """Pump the channel's updates into `handle` until `stop` is set (see `pump_updates`)."""
    await pump_updates(channel, handle, stop, retry_delay=retry_delay)
