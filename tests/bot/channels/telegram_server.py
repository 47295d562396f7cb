"""A small Telegram Bot API server on 127.0.0.1 for the Telegram channel's tests.

It stands in for Telegram's servers, which cannot be reached from here (and tests must not
depend on them anyway). The real python-telegram-bot library talks to it over HTTP, exactly
as it would talk to api.telegram.org: point the bot's `base_url` at `server.base_url`.

What it does: getMe; getUpdates as a real long poll (updates below `offset` are confirmed and
dropped for good, the call waits up to `timeout` seconds for something new, `limit` is
honoured, `timeout=0` answers at once); deleteWebhook, setWebhook, getWebhookInfo;
sendMessage, editMessageText, answerCallbackQuery and sendDocument (multipart), each recorded.

Test controls: `inject_message`, `inject_callback`, `inject_update` (raw, e.g. a duplicate
update_id), `fail_next` (one 429 with `retry_after`, or a 502), `block_chat` (403 as when the
user blocked the bot), `calls` (every call with its decoded parameters and files) and
`sent_to(chat_id)`.

Flood limits (opt-in): `TelegramServer(limits=(30, 1.0))` enforces Telegram's published limits
on sendMessage and sendDocument: at most 30 sends in any one second in all (a sliding window)
and one a second to a chat; beyond them it answers 429 with `parameters.retry_after`, the
whole seconds until the send would be allowed (at least 1), and counts it in `flood_429s`.
`speedup=F` runs Telegram's clock F times faster, to keep a benchmark short: 30 sends in any
1/F s, one per 1/F s to a chat, and retry_after in those scaled seconds (ceil(s·F)/F), which
matches a client paced by `bot.ratelimit.TELEGRAM_LIMITS.scaled(F)`. Without `limits` nothing
is enforced, as before.

Round trip (opt-in): `TelegramServer(round_trip=0.15)` makes every call take that long, as a
real network does: half of it before the call reaches "Telegram" (where it is recorded as
handled, and where the flood limits count it), half before the answer reaches the client.
The tests keep the default 0; the benchmarks use `BENCH_ROUND_TRIP` (150 ms).

The library sends form fields; every non-string value (chat_id, reply_markup, offset …) is
JSON-encoded inside its field, so every field but the plain-text ones is JSON-decoded here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

TOKEN: Final = "123456:TEST-TOKEN"
BOT_USER: Final = {
    "id": 123456,
    "is_bot": True,
    "first_name": "zhoubao",
    "username": "zhoubao_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Fields the library sends as raw strings; everything else is JSON inside the form field.
PLAIN_FIELDS: Final = frozenset({"text", "caption", "callback_query_id", "url", "secret_token"})
SEND_METHODS: Final = frozenset({"sendMessage", "sendDocument", "editMessageText"})
BLOCKED: Final = "Forbidden: bot was blocked by the user"
# The sends Telegram's flood limits apply to, when the server enforces them.
FLOOD_METHODS: Final = frozenset({"sendMessage", "sendDocument"})
BENCH_ROUND_TRIP: Final = 0.150  # s: a Bot API round trip as the benchmarks assume it


@dataclass
class Call:
    """One request the server received, and the HTTP status it was answered with."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field: (filename, bytes)
    status: int = 0  # 0 while a long poll is still waiting
    received_at: float = field(default_factory=time.monotonic)
    handled_at: float = 0.0  # time.monotonic() when "Telegram" took it (after half the trip)
    answered_at: float = 0.0  # time.monotonic() when answered; 0 while waiting


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: int | None


class FloodControl:
    """Telegram's flood limits, `speedup` times faster: the sends allowed, the waits of others.

    `per_second` sends in any window of one (scaled) second in all, one send to a chat per
    `per_chat_interval` (scaled) seconds. Only allowed sends count against the limits.
    """

    def __init__(
        self,
        per_second: float,
        per_chat_interval: float,
        speedup: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second < 1 or per_chat_interval < 0 or speedup <= 0:
            raise ValueError("flood limits need per_second >= 1, an interval >= 0, speedup > 0")
        self.speedup = speedup
        self._count = int(per_second)
        self._window = 1.0 / speedup
        self._chat_interval = per_chat_interval / speedup
        self._clock = clock
        self._recent: deque[float] = deque()  # times of the allowed sends in the last window
        self._last_to_chat: dict[int, float] = {}

    def admit(self, chat_id: int) -> float:
        """Take a send to `chat_id` now: 0 when allowed, else the (real) seconds to wait."""
        now = self._clock()
        while self._recent and self._recent[0] <= now - self._window:
            self._recent.popleft()
        wait = 0.0
        if len(self._recent) >= self._count:
            wait = self._recent[-self._count] + self._window - now
        last = self._last_to_chat.get(chat_id)
        if last is not None:
            wait = max(wait, last + self._chat_interval - now)
        if wait > 0:
            return wait
        self._recent.append(now)
        self._last_to_chat[chat_id] = now
        return 0.0

    def retry_after(self, wait: float) -> int | float:
        """Telegram's retry_after for a real wait: whole scaled seconds, at least one."""
        seconds = max(1, math.ceil(wait * self.speedup - 1e-9))
        scaled = seconds / self.speedup
        return int(scaled) if scaled == int(scaled) else scaled


class TelegramServer:
    """A Bot API server on a random loopback port; `async with` starts and stops it."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        limits: tuple[float, float] | None = None,
        speedup: float = 1.0,
        round_trip: float = 0.0,
    ) -> None:
        """`limits`: (sends a second in all, seconds between sends to a chat) to enforce;
        `round_trip`: seconds every call takes on the network, half each way."""
        if round_trip < 0:
            raise ValueError("round_trip must be >= 0")
        self.token = token
        self.round_trip = round_trip
        self.flood = FloodControl(*limits, speedup=speedup) if limits is not None else None
        self.flood_429s = 0  # sends refused for exceeding `limits`
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self._pending: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._failures: dict[str, list[_Failure]] = {}
        self._blocked: set[int] = set()
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> TelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._dispatch)
        # handler_cancellation: a long poll ends when the client hangs up, as on Telegram.
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # --- test controls -------------------------------------------------------------------

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update for getUpdates; return its update_id."""
        self._pending.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return int(update["update_id"])

    def message_update(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str = "小王",
        last_name: str | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """Return a message update as Telegram would send it (not queued)."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        return {
            "update_id": update_id if update_id is not None else next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": first_name},
                "from": user,
                "text": text,
            },
        }

    def callback_update(
        self,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        *,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """Return a callback query update (a tapped inline button), not queued."""
        return {
            "update_id": update_id if update_id is not None else next(self._update_ids),
            "callback_query": {
                "id": f"q{next(self._query_ids)}",
                "from": {"id": user_id, "is_bot": False, "first_name": "小王"},
                "chat_instance": "ci1",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "小王"},
                    "from": BOT_USER,
                    "text": "…",
                },
            },
        }

    def inject_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str = "小王",
        last_name: str | None = None,
        update_id: int | None = None,
    ) -> int:
        """Queue a text message from a user; return its update_id."""
        return self.inject_update(
            self.message_update(
                chat_id,
                user_id,
                text,
                first_name=first_name,
                last_name=last_name,
                update_id=update_id,
            )
        )

    def inject_callback(
        self,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        *,
        update_id: int | None = None,
    ) -> int:
        """Queue a tap on an inline button of message `message_id`; return the update_id."""
        return self.inject_update(
            self.callback_update(chat_id, user_id, data, message_id, update_id=update_id)
        )

    def fail_next(self, method: str, status: int = 429, retry_after: int = 3) -> None:
        """Make the next call of `method` fail once: 429 with retry_after, or `status`."""
        failure = _Failure(status, retry_after if status == 429 else None)
        self._failures.setdefault(method, []).append(failure)

    def block_chat(self, chat_id: int) -> None:
        """Answer sends to this chat with 403, as Telegram does once the user blocked the bot."""
        self._blocked.add(chat_id)

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent_to(self, chat_id: int) -> list[Call]:
        """The sendMessage/sendDocument/editMessageText calls that reached `chat_id` (200 OK)."""
        return [
            call
            for call in self.calls
            if call.method in SEND_METHODS
            and call.params.get("chat_id") == chat_id
            and call.status == 200
        ]

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an offset."""
        return list(self._pending)

    # --- the API -------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, files)
        self.calls.append(call)
        if self.round_trip:
            await asyncio.sleep(self.round_trip / 2)  # on its way to Telegram
        call.handled_at = time.monotonic()
        response = await self._answer(call)
        call.status = response.status
        if self.round_trip:
            await asyncio.sleep(self.round_trip / 2)  # the answer on its way back
        call.answered_at = time.monotonic()
        return response

    async def _answer(self, call: Call) -> web.Response:
        failures = self._failures.get(call.method)
        if failures:
            failure = failures.pop(0)
            if failure.status == 429:
                return _error(
                    429,
                    f"Too Many Requests: retry after {failure.retry_after}",
                    {"retry_after": failure.retry_after},
                )
            return web.Response(status=failure.status, text="<html>Bad Gateway</html>")
        if self.flood is not None and call.method in FLOOD_METHODS and "chat_id" in call.params:
            wait = self.flood.admit(int(call.params["chat_id"]))
            if wait > 0:
                self.flood_429s += 1
                retry_after = self.flood.retry_after(wait)
                return _error(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        handler = getattr(self, f"_api_{call.method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.Response = await handler(call.params, call.files)
        return response

    async def _api_getMe(self, params: dict[str, Any], files: object) -> web.Response:
        return _ok(BOT_USER)

    async def _api_getUpdates(self, params: dict[str, Any], files: object) -> web.Response:
        offset = params.get("offset")
        if offset is not None:
            # A higher offset confirms everything below it: Telegram forgets those updates.
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if not self._pending and timeout > 0:
            async with self._arrived:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._arrived.wait_for(lambda: bool(self._pending)), timeout
                    )
        return _ok(self._pending[:limit])

    async def _api_deleteWebhook(self, params: dict[str, Any], files: object) -> web.Response:
        self.webhook = {}
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, Any], files: object) -> web.Response:
        self.webhook = dict(params)
        return _ok(True)

    async def _api_getWebhookInfo(self, params: dict[str, Any], files: object) -> web.Response:
        return _ok(
            {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            }
        )

    async def _api_answerCallbackQuery(self, params: dict[str, Any], files: object) -> web.Response:
        return _ok(True)

    async def _api_sendMessage(self, params: dict[str, Any], files: object) -> web.Response:
        chat_id = int(params["chat_id"])
        if chat_id in self._blocked:
            return _error(403, BLOCKED)
        return _ok(self._message(chat_id, text=params.get("text"), markup=params))

    async def _api_editMessageText(self, params: dict[str, Any], files: object) -> web.Response:
        chat_id = int(params["chat_id"])
        if chat_id in self._blocked:
            return _error(403, BLOCKED)
        message = self._message(chat_id, text=params.get("text"), markup=params)
        message["message_id"] = params.get("message_id")
        message["edit_date"] = int(time.time())
        return _ok(message)

    async def _api_sendDocument(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> web.Response:
        chat_id = int(params["chat_id"])
        if chat_id in self._blocked:
            return _error(403, BLOCKED)
        message = self._message(chat_id, text=None, markup=params)
        filename = files["document"][0] if "document" in files else "file"
        message["document"] = {
            "file_id": f"doc{message['message_id']}",
            "file_unique_id": f"udoc{message['message_id']}",
            "file_name": filename,
        }
        if params.get("caption"):
            message["caption"] = params["caption"]
        return _ok(message)

    def _message(self, chat_id: int, *, text: str | None, markup: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
        }
        if text is not None:
            message["text"] = text
        if markup.get("reply_markup"):
            message["reply_markup"] = markup["reply_markup"]
        return message


async def _read_params(
    request: web.Request,
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = (value.filename, value.file.read())
        elif name in PLAIN_FIELDS:
            params[name] = value
        else:
            try:
                params[name] = json.loads(value)
            except ValueError:
                params[name] = value
    return params, files


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
