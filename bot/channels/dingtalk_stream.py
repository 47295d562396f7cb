"""DingTalk Stream mode on aiohttp: an outbound WebSocket that brings the robot's messages.

Stream mode needs no public address (a hall behind a firewall can use it): zhoubao opens the
connection. The protocol, as the official SDK implements it (open-dingtalk/
dingtalk-stream-sdk-python, dingtalk_stream/stream.py, frames.py, handlers.py) and as
DingTalk's protocol description (open-dingtalk.github.io/developerpedia/docs/learn/stream/
protocol) gives its first step:

1. `POST {api}/v1.0/gateway/connections/open` with {clientId, clientSecret, subscriptions:
   [{type: "CALLBACK", topic: "/v1.0/im/bot/messages/get"}], ua, localIp} answers
   {endpoint, ticket};
2. open a WebSocket to `endpoint?ticket=<ticket, URL-quoted>`;
3. every frame is JSON {specVersion, type: SYSTEM | EVENT | CALLBACK, headers: {messageId,
   topic, contentType, time, …}, data: a JSON string};
4. each frame is answered with an ack {code, headers: {messageId, contentType:
   "application/json"}, message, data: a JSON string}: a SYSTEM `ping` with its own data
   echoed, a CALLBACK with {"response": …} and code 200 (or 500 when handling failed, so
   that DingTalk delivers it again); a SYSTEM `disconnect` is acked, then the connection is
   closed and a new one opened (a fresh connections/open);
5. keepalive: a WebSocket ping every 60 s (the SDK's `keepalive`; here aiohttp's
   `heartbeat`, which also closes a connection whose pong does not come back);
6. reconnect after any failure with a delay of 1 s doubling to 60 s plus up to 1 s of
   jitter, back to 1 s once a frame has arrived (the SDK's `_reconnect_delay`).

Why not the SDK itself: it calls connections/open and the token with blocking `requests`
(the current version moves connections/open to a thread, the token and uploads still block),
it depends on `websockets` and `requests`, which zhoubao does not otherwise need, and its
ChatbotHandler acks a message *before* handling it, in a thread pool: a crash loses it. Here
a CALLBACK is acked only once the handler has returned, that is, once the engine has made
the update durable; a redelivery after a crash is dropped by the update ledger, and one that
arrives (on a new connection) while the first delivery is still being handled is not handled
again but acked when that handling ends (the SDK's in-flight map does the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote_plus

import aiohttp

from bot.channels.dingtalk_api import DEFAULT_API_URL

logger = logging.getLogger(__name__)

BOT_MESSAGE_TOPIC: Final = "/v1.0/im/bot/messages/get"
KEEPALIVE: Final = 60.0  # s between WebSocket pings, as the SDK
RECONNECT_BASE: Final = 1.0
RECONNECT_MAX: Final = 60.0
RECONNECT_JITTER: Final = 1.0
MAX_IN_FLIGHT: Final = 100  # callbacks being handled at once (the SDK's MAX_PENDING_TASKS)
MAX_FRAME_BYTES: Final = 1 << 20
OPEN_TIMEOUT: Final = 10.0


class StreamState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    REFUSED = "refused"  # connections/open refused the credentials; retried slowly
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """One frame from the gateway."""

    type: str  # SYSTEM, EVENT or CALLBACK
    topic: str
    message_id: str
    data: str  # a JSON string, as sent

    def data_json(self) -> Any:
        return json.loads(self.data) if self.data else {}


class StreamFrameError(Exception):
    """A frame that is not what the protocol says; `reason` names the check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_frame(raw: str) -> StreamFrame:
    """A gateway frame, or `StreamFrameError`."""
    if len(raw) > MAX_FRAME_BYTES:
        raise StreamFrameError("frame too long")
    try:
        frame = json.loads(raw)
    except ValueError as error:
        raise StreamFrameError("frame is not JSON") from error
    if not isinstance(frame, dict):
        raise StreamFrameError("frame is not a JSON object")
    headers = frame.get("headers")
    if not isinstance(headers, dict):
        raise StreamFrameError("frame without headers")
    kind = frame.get("type")
    message_id = headers.get("messageId")
    if not isinstance(kind, str) or not isinstance(message_id, str) or not message_id:
        raise StreamFrameError("frame without type or messageId")
    data = frame.get("data", "")
    if not isinstance(data, str):
        raise StreamFrameError("frame data is not a string")
    return StreamFrame(kind, str(headers.get("topic", "")), message_id, data)


def ack(message_id: str, *, code: int = 200, message: str = "OK", data: Any = None) -> str:
    """The ack frame for `message_id`, as the SDK's AckMessage.to_dict writes it."""
    return json.dumps(
        {
            "code": code,
            "headers": {"contentType": "application/json", "messageId": message_id},
            "message": message,
            "data": json.dumps(data if data is not None else {}),
        },
        ensure_ascii=False,
    )


Handler = Callable[[StreamFrame], Awaitable[None]]


class StreamRefused(Exception):
    """connections/open refused the credentials (HTTP 4xx)."""


class DingtalkStream:
    """The Stream connection: open, read, ack, keep alive, reconnect until `stop()`.

    `handler` is awaited for every CALLBACK frame of a subscribed topic (up to 100 at once,
    so that the engine can commit what arrived together in one transaction); its frame is
    acked 200 when it returns, 500 when it raises (DingTalk then delivers it again).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        client_id: str,
        client_secret: str,
        handler: Handler,
        api_url: str = DEFAULT_API_URL,
        topics: tuple[str, ...] = (BOT_MESSAGE_TOPIC,),
        keepalive: float = KEEPALIVE,
        reconnect_base: float = RECONNECT_BASE,
        reconnect_max: float = RECONNECT_MAX,
        jitter: float = RECONNECT_JITTER,
        user_agent: str = "zhoubao",
    ) -> None:
        self._session = session
        self._client_id = client_id
        self._client_secret = client_secret
        self._handler = handler
        self.api_url = api_url.rstrip("/")
        self.topics = topics
        self._keepalive = keepalive
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        self._jitter = jitter
        self._user_agent = user_agent
        self.state = StreamState.STOPPED
        self.connections = 0  # WebSockets opened so far
        self.connected = asyncio.Event()  # set while a WebSocket is open
        self._stopping = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._in_flight: set[asyncio.Task[None]] = set()  # acks waiting for their handling
        self._handling: dict[str, asyncio.Task[bool]] = {}  # messageId: its handling
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._disconnect_asked = False
        self._state_changed = asyncio.Event()

    def _set_state(self, state: StreamState) -> None:
        self.state = state
        changed, self._state_changed = self._state_changed, asyncio.Event()
        changed.set()

    async def wait_state(self, state: StreamState) -> None:
        """Return once the connection is in `state` (for status reports and tests)."""
        while self.state is not state:
            await self._state_changed.wait()

    async def open_connection(self) -> tuple[str, str]:
        """Register a connection with the gateway: (endpoint, ticket)."""
        body = {
            "clientId": self._client_id,
            "clientSecret": self._client_secret,
            "subscriptions": [{"type": "CALLBACK", "topic": topic} for topic in self.topics],
            "ua": self._user_agent,
            "localIp": "",
        }
        async with self._session.post(
            self.api_url + "/v1.0/gateway/connections/open",
            json=body,
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=OPEN_TIMEOUT),
        ) as response:
            if 400 <= response.status < 500 and response.status != 429:
                raise StreamRefused(f"connections/open: HTTP {response.status}")
            response.raise_for_status()
            answer = await response.json(content_type=None)
        endpoint = answer.get("endpoint") if isinstance(answer, dict) else None
        ticket = answer.get("ticket") if isinstance(answer, dict) else None
        if not isinstance(endpoint, str) or not isinstance(ticket, str) or not ticket:
            raise aiohttp.ClientError("connections/open: answer without endpoint and ticket")
        return endpoint, ticket

    async def run(self) -> None:
        """Stay connected until `stop()`; never raises but CancelledError."""
        self._stopping.clear()
        attempt = 0
        self._set_state(StreamState.CONNECTING)
        try:
            while not self._stopping.is_set():
                delay_next = True
                try:
                    endpoint, ticket = await self.open_connection()
                    frames = await self._serve(f"{endpoint}?ticket={quote_plus(ticket)}")
                    if frames:
                        attempt = 0  # the connection worked; start again from the base
                    delay_next = not self._disconnect_asked
                except StreamRefused as error:
                    self._set_state(StreamState.REFUSED)
                    logger.error("dingtalk stream refused", extra={"reason": str(error)})
                    attempt = max(attempt, 16)  # wrong credentials: retry at the slowest
                except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                    logger.warning("dingtalk stream failed", extra={"error": type(error).__name__})
                except Exception:  # the loop's edge: whatever it was, reconnect later
                    logger.exception("dingtalk stream failed unexpectedly")
                if self._stopping.is_set():
                    break
                if self.state is not StreamState.REFUSED:
                    self._set_state(StreamState.RECONNECTING)
                if delay_next:
                    await self._wait(self._delay(attempt))
                    attempt += 1
        finally:
            await self._drain()
            self._set_state(StreamState.STOPPED)

    async def stop(self) -> None:
        """Stop reconnecting and close the WebSocket; callbacks in flight finish first."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _serve(self, url: str) -> int:
        """Read one WebSocket until it closes; return how many frames arrived."""
        frames = 0
        self._disconnect_asked = False
        async with self._session.ws_connect(
            url, heartbeat=self._keepalive, max_msg_size=MAX_FRAME_BYTES
        ) as ws:
            self._ws = ws
            if self._stopping.is_set():  # stop() came while this connection was opening
                await ws.close()
            self.connections += 1
            self._set_state(StreamState.CONNECTED)
            self.connected.set()
            logger.info("dingtalk stream connected", extra={"connections": self.connections})
            try:
                async for message in ws:
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        continue
                    frames += 1
                    await self._on_frame(ws, message.data)
                    if self._disconnect_asked:
                        break
            finally:
                self.connected.clear()
                self._ws = None
        return frames

    async def _on_frame(self, ws: aiohttp.ClientWebSocketResponse, raw: str) -> None:
        try:
            frame = parse_frame(raw)
        except StreamFrameError as error:
            logger.warning("dingtalk stream frame refused", extra={"reason": error.reason})
            return
        if frame.type == "SYSTEM":
            try:
                echoed = frame.data_json()
            except ValueError:
                echoed = {}
            await ws.send_str(ack(frame.message_id, data=echoed))
            if frame.topic == "disconnect":
                # The gateway is about to close this connection: open a new one now.
                self._disconnect_asked = True
            return
        if frame.type != "CALLBACK" or frame.topic not in self.topics:
            await ws.send_str(ack(frame.message_id, code=404, message="not implement"))
            return
        handling = self._handling.get(frame.message_id)
        if handling is None:
            await self._slots.acquire()
            handling = asyncio.create_task(self._handle(frame))
            self._handling[frame.message_id] = handling
            handling.add_done_callback(lambda _: self._handling.pop(frame.message_id, None))
        # else: delivered again (after a reconnect) while still being handled: not handled
        # twice, acked on this connection once the first handling is done (as the SDK does).
        task = asyncio.create_task(self._ack_when_done(ws, frame.message_id, handling))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _handle(self, frame: StreamFrame) -> bool:
        """Run the handler on `frame`; True when it returned."""
        try:
            await self._handler(frame)
        except Exception:
            logger.exception("dingtalk stream callback failed", extra={"topic": frame.topic})
            return False
        finally:
            self._slots.release()
        return True

    async def _ack_when_done(
        self, ws: aiohttp.ClientWebSocketResponse, message_id: str, handling: asyncio.Task[bool]
    ) -> None:
        handled = await asyncio.shield(handling)
        if handled:
            reply = ack(message_id, data={"response": "OK"})
        else:  # DingTalk delivers it again
            reply = ack(message_id, code=500, message="error", data={"response": None})
        if not ws.closed:
            # An ack that cannot go out (the connection dropped) is no loss: DingTalk
            # delivers the frame again, and the update ledger drops the repeat.
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await ws.send_str(reply)

    async def _drain(self) -> None:
        pending = [*self._in_flight, *self._handling.values()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def _delay(self, attempt: int) -> float:
        delay = self._reconnect_base * 2.0 ** min(attempt, 16)
        return min(delay + random.uniform(0, self._jitter), self._reconnect_max)

    async def _wait(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)
