"""Guards for a webhook endpoint on zhoubao's aiohttp server (see docs/security.md).

A webhook is a public URL: whoever finds it can send anything. The endpoint checks the
secret header before it reads a byte of the body, reads at most `MAX_BODY` bytes within
`READ_TIMEOUT` seconds, and refuses JSON nested deeper than `MAX_DEPTH` before parsing it.
Refusals are plain status codes (400, 403, 408, 413) with one log line, never a traceback.
`server_options` are the aiohttp server's own limits: how long an idle connection, or one
still sending its headers, is kept open; how long a refused body is drained.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

logger = logging.getLogger(__name__)
# aiohttp's server logs here (`server_options`): what it cannot parse, and handler failures.
server_logger = logging.getLogger(f"{__name__}.server")

MAX_BODY: Final = 64 * 1024  # bytes; a Telegram update is a few KiB at most
MAX_DEPTH: Final = 32  # nesting of JSON arrays and objects; an update needs about 8
READ_TIMEOUT: Final = 10.0  # seconds to receive the body once the headers are in
IDLE_TIMEOUT: Final = 15.0  # seconds a connection may be idle or still sending its headers
LINGERING_TIME: Final = 2.0  # seconds a refused body is read and discarded before closing

# A JSON string (escapes included) or a bracket: brackets inside strings are not structure.
# Unrolled ("normal* (escaped normal*)*") so that an unterminated string costs linear time.
_JSON_TOKENS: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class Refused(Exception):
    """A request refused with `status`; `reason` goes to the log line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _one_line_for_malformed_http(record: logging.LogRecord) -> bool:
    """Turn aiohttp's traceback for a request it cannot parse into one warning line.

    Anyone can send bytes that are not HTTP (a byte 0xFF in a header name, a Content-Length
    that is not a number); aiohttp answers 400 and logs it as an error with a traceback.
    That is noise, not a fault of zhoubao. A handler's own failure keeps its traceback.
    """
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, HttpProcessingError):
        reason = (error.message or type(error).__name__).splitlines()[0].rstrip(":")
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "malformed HTTP request from %s refused: %d %s"
        record.args = (remote, error.code or 400, reason)
        record.exc_info = None
        record.exc_text = None
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
    return True


server_logger.addFilter(_one_line_for_malformed_http)


def server_options(*, idle_timeout: float = IDLE_TIMEOUT) -> dict[str, Any]:
    """Keyword arguments for `web.AppRunner` (or aiohttp's `TestServer`) of a webhook server.

    aiohttp's defaults keep a connection that never completes its headers for an hour
    (`keepalive_timeout` also runs from the moment a connection opens) and drain an unread
    body for 10 seconds. Compressed bodies are not inflated: Telegram sends none, and a
    small compressed body can expand without bound. What aiohttp cannot parse is logged in
    one line (`server_logger`).
    """
    return {
        "keepalive_timeout": idle_timeout,
        "lingering_time": LINGERING_TIME,
        "auto_decompress": False,
        "logger": server_logger,
    }


def secret_matches(header: str | None, expected: str) -> bool:
    """Compare a secret header with the expected secret in constant time, as bytes.

    aiohttp decodes header bytes as UTF-8 with surrogate escapes; a header that is not
    plain ASCII (a byte 0xFF, say) cannot equal a valid secret and is simply wrong.
    """
    if header is None:
        return False
    try:
        given = header.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, expected.encode("ascii"))


def nesting_depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text `body` nests arrays and objects deeper than `limit`.

    A scan of the raw bytes, before any parser recurses into them. For valid JSON the
    depth is exact; for invalid JSON it may be wrong, but the parser refuses that anyway
    before it gets deeper than this scan saw.
    """
    depth = 0
    for token in _JSON_TOKENS.finditer(body):
        bracket = token[0]
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


async def read_body(request: web.Request, *, limit: int, within: float) -> bytes:
    """The request's body, at most `limit` bytes within `within` seconds; else `Refused`.

    A declared Content-Length over the limit is refused before anything is read (413);
    without one (chunked), reading stops at the first byte over the limit.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Refused(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            while True:
                chunk = await request.content.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise Refused(413, "body too large")
    except TimeoutError:
        raise Refused(408, "body not received in time") from None
    except web.RequestPayloadError:
        raise Refused(400, "malformed body") from None
    return b"".join(chunks)


async def refusal(request: web.Request, refused: Refused, what: str) -> web.StreamResponse:
    """Answer `refused` and close the connection; log one line (never the request's content).

    A request that ran out of time is cut off at once: waiting for the rest of its body is
    what it would want. Otherwise aiohttp drains what is still coming for at most
    `LINGERING_TIME`, so that an honest client reads the answer rather than a reset.
    """
    logger.warning(
        "%s refused: %d %s",
        what,
        refused.status,
        refused.reason,
        extra={"status": refused.status, "reason": refused.reason},
    )
    response = web.Response(status=refused.status)
    response.force_close()  # Connection: close
    if refused.status == 408:
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()
    return response
