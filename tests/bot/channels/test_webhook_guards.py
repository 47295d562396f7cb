"""The Telegram webhook under crafted requests, on a real aiohttp server on 127.0.0.1.

The server runs with the options `zhoubao run` uses (`bot.channels.webhook.server_options`),
with short timeouts injected so that the slow-request tests take a fraction of a second.
Crafted requests go over raw sockets: a byte 0xFF in a header, a body announced but never
sent, headers never finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels import webhook
from bot.channels.telegram import SECRET_HEADER, TelegramChannel, run_telegram
from handlers.types import Incoming
from scheduler.clock import FrozenClock
from tests.bot.channels.telegram_server import TelegramServer

SECRET = "s3cret-Webhook_token"
PATH = "/telegram/webhook"
READ_TIMEOUT = 0.3  # injected: the production value is webhook.READ_TIMEOUT (10 s)
IDLE_TIMEOUT = 0.3  # injected: the production value is webhook.IDLE_TIMEOUT (15 s)
MARGIN = 1.5  # seconds allowed beyond a timeout on a loaded machine

Client = TestClient[web.Request, web.Application]


@dataclass
class Served:
    client: Client
    handed_on: list[Incoming]
    telegram: TelegramServer

    @property
    def address(self) -> tuple[str, int]:
        server = self.client.server
        assert server.port is not None
        return server.host, server.port


@pytest.fixture
async def served(telegram_server: TelegramServer, clock: FrozenClock) -> AsyncIterator[Served]:
    channel = TelegramChannel(
        telegram_server.token,
        sessions=async_sessionmaker[AsyncSession](),  # webhook mode keeps no cursor
        clock=clock.now,
        base_url=telegram_server.base_url,
        base_file_url=telegram_server.base_file_url,
        mode="webhook",
        webhook_url="https://zhoubao.example.org/telegram/webhook",
        webhook_secret=SECRET,
        webhook_read_timeout=READ_TIMEOUT,
    )
    await channel.start()
    app = web.Application(client_max_size=webhook.MAX_BODY)
    app.add_routes(channel.webhook_routes(PATH))
    handed_on: list[Incoming] = []

    async def handle(incoming: Incoming) -> None:
        handed_on.append(incoming)

    stop = asyncio.Event()
    pump = asyncio.create_task(run_telegram(channel, handle, stop))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(**webhook.server_options(idle_timeout=IDLE_TIMEOUT))
    async with TestClient(server) as client:
        try:
            yield Served(client, handed_on, telegram_server)
        finally:
            stop.set()
            await pump
            await channel.stop()


def request_head(secret: bytes | None, length: int | None = None, *extra: bytes) -> bytes:
    lines = [b"POST " + PATH.encode() + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if secret is not None:
        lines.append(SECRET_HEADER.encode() + b": " + secret)
    if length is not None:
        lines += [b"Content-Type: application/json", b"Content-Length: " + str(length).encode()]
    lines += extra
    return b"\r\n".join(lines) + b"\r\n\r\n"


@contextlib.asynccontextmanager
async def raw_connection(
    served: Served,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*served.address)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after `within` s)."""
    received = b""
    async with asyncio.timeout(within):
        while chunk := await reader.read(65536):
            received += chunk
    return received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def no_traceback(records: list[logging.LogRecord]) -> bool:
    return all(record.exc_info is None and record.levelno < logging.ERROR for record in records)


# --- The secret, before the body. -------------------------------------------------------------


async def test_webhook_refuses_secret_with_byte_ff_without_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"update_id": 1}'
    caplog.set_level(logging.INFO)

    async with raw_connection(served) as (reader, writer):
        writer.write(request_head(SECRET.encode() + b"\xff", len(body)) + body)
        response = await read_until_closed(reader, MARGIN + webhook.LINGERING_TIME)

    assert status_of(response) == 403
    assert served.handed_on == []
    assert no_traceback(caplog.records)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.getMessage() for r in refusals] == [
        "telegram webhook refused: 403 wrong or missing secret"
    ]


@pytest.mark.parametrize(
    "secret",
    [b"\xff\xfe", "密钥".encode(), SECRET.encode()[:-1], SECRET.encode() + b"x", b""],
    ids=["latin1", "utf8", "prefix", "longer", "empty"],
)
async def test_webhook_refuses_any_other_secret(
    served: Served, caplog: pytest.LogCaptureFixture, secret: bytes
) -> None:
    update = served.telegram.message_update(42, 7, "伪造")
    body = json.dumps(update).encode()

    async with raw_connection(served) as (reader, writer):
        writer.write(request_head(secret, len(body)) + body)
        response = await read_until_closed(reader, MARGIN + webhook.LINGERING_TIME)

    assert status_of(response) == 403
    assert served.handed_on == []
    assert no_traceback(caplog.records)


async def test_webhook_answers_wrong_secret_before_the_body_is_sent(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_connection(served) as (reader, writer):
        # 1 MiB announced, not a byte of it sent: the answer cannot wait for the body.
        writer.write(request_head(b"wrong", 1024 * 1024))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MARGIN)

    assert status_of(head) == 403
    assert b"Connection: close" in head
    assert no_traceback(caplog.records)


@pytest.mark.parametrize(
    "head",
    [
        request_head(SECRET.encode(), 2, b"Bad\xffName: 1"),
        request_head(SECRET.encode(), None, b"Content-Length: abc"),
    ],
    ids=["byte-ff-in-header-name", "content-length-not-a-number"],
)
async def test_webhook_refuses_malformed_http_in_one_line(
    served: Served, caplog: pytest.LogCaptureFixture, head: bytes
) -> None:
    caplog.set_level(logging.INFO)

    async with raw_connection(served) as (reader, writer):
        writer.write(head + b"{}")
        response = await read_until_closed(reader, MARGIN)

    assert status_of(response) == 400
    assert served.handed_on == []
    assert no_traceback(caplog.records)
    malformed = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 1
    assert malformed[0].startswith("malformed HTTP request from 127.0.0.1 refused: 400 ")


# --- The body's size, depth and content. ------------------------------------------------------


async def test_webhook_refuses_announced_oversize_body_with_413(served: Served) -> None:
    async with raw_connection(served) as (reader, writer):
        writer.write(request_head(SECRET.encode(), webhook.MAX_BODY + 1))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MARGIN)

    assert status_of(head) == 413
    assert served.handed_on == []


async def test_webhook_refuses_chunked_oversize_body_with_413(served: Served) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (webhook.MAX_BODY // 2)

    response = await served.client.post(PATH, data=chunks(), headers={SECRET_HEADER: SECRET})

    assert response.status == 413
    assert served.handed_on == []


async def test_webhook_takes_body_of_exactly_the_limit(served: Served) -> None:
    update = served.telegram.message_update(42, 7, "你好")
    body = json.dumps(update).encode()
    padded = body + b" " * (webhook.MAX_BODY - len(body))  # JSON allows trailing whitespace

    response = await served.client.post(PATH, data=padded, headers={SECRET_HEADER: SECRET})

    assert response.status == 200
    assert [i.text for i in served.handed_on] == ["你好"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30000 + b"]" * 30000,  # json.loads alone: RecursionError
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
        b"[" * (webhook.MAX_DEPTH + 1) + b"]" * (webhook.MAX_DEPTH + 1),
        b"[" * 50000,  # unterminated
    ],
    ids=["arrays", "objects", "one-too-deep", "unterminated"],
)
async def test_webhook_refuses_deeply_nested_json_with_400(
    served: Served, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    response = await served.client.post(PATH, data=body, headers={SECRET_HEADER: SECRET})

    assert response.status == 400
    assert served.handed_on == []
    assert no_traceback(caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"update_id": "x", "message": 5}',
        b'{"update_id": 1, "message": {"chat": [], "from": 3}}',
        b'{"message": {}}',
    ],
    ids=["text", "bytes", "array", "wrong-types", "wrong-shapes", "no-update-id"],
)
async def test_webhook_refuses_what_is_not_an_update_with_400(
    served: Served, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    response = await served.client.post(PATH, data=body, headers={SECRET_HEADER: SECRET})

    assert response.status == 400
    assert served.handed_on == []
    assert no_traceback(caplog.records)


async def test_webhook_does_not_inflate_a_compressed_body(served: Served) -> None:
    # 16 MiB of JSON whitespace in ~16 KiB of gzip: inflated, 256 times the limit.
    bomb = gzip.compress(b"{" + b" " * (16 * 1024 * 1024) + b"}")
    headers = {SECRET_HEADER: SECRET, "Content-Encoding": "gzip"}

    response = await served.client.post(PATH, data=bomb, headers=headers)

    assert len(bomb) < webhook.MAX_BODY
    assert response.status == 400
    assert served.handed_on == []


async def test_webhook_still_hands_on_a_good_update(served: Served) -> None:
    update = served.telegram.message_update(42, 7, "你好")

    response = await served.client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})

    assert response.status == 200
    assert [(i.update_id, i.text) for i in served.handed_on] == [(str(update["update_id"]), "你好")]


# --- Slow requests. ---------------------------------------------------------------------------


async def test_webhook_closes_request_whose_body_stops_halfway(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_connection(served) as (reader, writer):
        writer.write(request_head(SECRET.encode(), 100) + b'{"update_id": 1, ')
        await writer.drain()
        started = time.monotonic()
        response = await read_until_closed(reader, READ_TIMEOUT + MARGIN)
        elapsed = time.monotonic() - started

    assert status_of(response) == 408
    assert READ_TIMEOUT * 0.9 <= elapsed < READ_TIMEOUT + MARGIN
    assert served.handed_on == []
    assert no_traceback(caplog.records)


async def test_webhook_closes_connection_whose_headers_never_end(served: Served) -> None:
    async with raw_connection(served) as (reader, writer):
        writer.write(b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        started = time.monotonic()
        response = await read_until_closed(reader, IDLE_TIMEOUT + MARGIN)
        elapsed = time.monotonic() - started

    assert response == b""
    assert elapsed < IDLE_TIMEOUT + MARGIN


async def test_webhook_closes_idle_connection(served: Served) -> None:
    async with raw_connection(served) as (reader, _):
        response = await read_until_closed(reader, IDLE_TIMEOUT + MARGIN)

    assert response == b""


# --- The depth scan. --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "deepest"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"text": "[[[[[[[[[[[["}', 1),  # brackets in a string are text
        (b'{"text": "\\"[[[[[[[[[["}', 1),  # an escaped quote does not end the string
        (b'{"text": "\\\\", "a": [[[]]]}', 4),  # an escaped backslash does
        (b'"]]]]" [[', 2),
        (b"", 0),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(body: bytes, deepest: int) -> None:
    assert not webhook.nesting_depth_exceeds(body, deepest)
    assert webhook.nesting_depth_exceeds(body, deepest - 1) == (deepest > 0)


def test_nesting_depth_scan_is_linear_on_an_unterminated_string() -> None:
    body = b'{"a": "' + b"\\x" * 30000 + b"a" * 30000
    started = time.monotonic()

    assert not webhook.nesting_depth_exceeds(body, 1)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (SECRET, True),
        (None, False),
        ("", False),
        (SECRET + "\udcff", False),  # byte 0xFF as aiohttp decodes it
        ("密钥", False),
        (SECRET.upper(), False),
    ],
)
def test_secret_matches_only_the_same_ascii_bytes(header: str | None, expected: bool) -> None:
    assert webhook.secret_matches(header, SECRET) is expected
