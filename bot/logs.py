"""zhoubao's logging: one handler on standard error, structured fields, no secrets, no texts.

`configured()` sets it up for the duration of a command (`bot.cli.main`):

- one `StreamHandler` on the root logger, at `ZHOUBAO_LOG_LEVEL` (default WARNING), whose
  `StructuredFormatter` appends the fields given with `extra={...}` as `key=value`;
- a `RedactingFilter` on every root handler, so that every logger's records pass it, ours and
  the libraries' (httpx, httpcore, telegram, asyncpg, aiohttp …): it replaces every configured
  secret (`add_secrets`, `secrets_of`) and anything shaped like a Bot API token
  (`123456:AA…`, 30 characters or more after the colon) in the message, its arguments, the
  exception text, the stack and the extra fields;
- a floor under the loggers of libraries that log payloads at DEBUG: python-telegram-bot logs
  every Bot API call's parameters and answer (message texts, the webhook secret),
  SQLAlchemy every statement and result row, aiosqlite every call with its arguments (zhoubao's
  SQLite driver, `storage.sqlite_driver`, logs nothing, but aiosqlite is still imported). They
  stay at INFO or WARNING whatever the level asked for;
- the libraries that log each request or tick at INFO (httpx, httpcore, APScheduler) are
  heard at DEBUG only.

Texts never reach a log through zhoubao's own code: its log calls carry ids, state names and
counts. The engines hide statement parameters (`storage.database.create_engine`); the one
driver message that still quotes a value (asyncpg's "invalid input for query argument $1:
'…'") has the value cut here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:
    from bot.config import Config

LEVEL_ENV: Final = "ZHOUBAO_LOG_LEVEL"
DEFAULT_LEVEL: Final = logging.WARNING
REDACTED: Final = "<redacted>"
FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A Bot API token: the bot's id, a colon (percent-encoded in some URLs), 30+ characters.
TOKEN_PATTERN: Final = re.compile(r"\d+(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# asyncpg quotes the value it could not encode (up to 40 characters of its repr).
_ASYNCPG_ARGUMENT: Final = re.compile(r"(invalid input for query argument \$\d+[^:\n]*): [^\n]*")
# Shorter values are not secrets worth the name, and redacting them would garble every line.
MIN_SECRET_LENGTH: Final = 4

# Environment variables that hold secrets under their default names, known before the
# configuration is read (the configuration may name others: `secrets_of`).
SECRET_ENVIRONMENT: Final = (
    "ZHOUBAO_TELEGRAM_TOKEN",
    "ZHOUBAO_TELEGRAM_WEBHOOK_SECRET",
    "ZHOUBAO_WECHAT_TOKEN",
    "PGPASSWORD",
)

# The least level of libraries that log payloads (see the module doc).
PAYLOAD_FLOORS: Final = {
    "telegram": logging.INFO,
    "sqlalchemy": logging.WARNING,
    "aiosqlite": logging.INFO,
}

# Libraries that log every request or tick at INFO: heard at DEBUG only, so that INFO is
# zhoubao's own account of the week (a long poll alone is a line every few seconds).
CHATTY_LOGGERS: Final = ("httpx", "httpcore", "apscheduler")

# Attributes every LogRecord has; the others came in through `extra`.
_STANDARD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


class Redactor:
    """Replaces secrets, token-shaped strings and quoted driver values in a text."""

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            known = self._secrets | {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
            if known == self._secrets:
                return
            # Longest first: a secret that contains another goes whole.
            ordered = sorted(known, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            self._secrets = known

    def clear(self) -> None:
        with self._lock:
            self._secrets, self._pattern = frozenset(), None

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = TOKEN_PATTERN.sub(REDACTED, text)
        return _ASYNCPG_ARGUMENT.sub(r"\1: " + REDACTED, text)


redact: Final = Redactor()


def add_secrets(*secrets: str) -> None:
    """Keep these values out of every log line from now on."""
    redact.add(secrets)


def secrets_from_environment(environ: Mapping[str, str]) -> list[str]:
    """The values of the default secret variables that are set."""
    return [environ[name].strip() for name in SECRET_ENVIRONMENT if environ.get(name, "").strip()]


def secrets_of(config: Config, environ: Mapping[str, str]) -> list[str]:
    """The secrets the configuration points to: the variables it names and the token file."""
    channels = config.channels
    names = [
        channels.telegram.token_env,
        channels.telegram.webhook_secret_env,
        channels.wechat.token_env,
        channels.wecom.secret_env,
        channels.wecom.callback_token_env,
        channels.wecom.aes_key_env,
        channels.dingtalk.app_secret_env,
    ]
    found = [environ[name].strip() for name in names if environ.get(name, "").strip()]
    token_file = channels.telegram.token_file
    if token_file is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            token = token_file.read_text("utf-8").strip()
            if token:
                found.append(token)
    return found


def protect(config: Config, environ: Mapping[str, str] | None = None) -> None:
    """Register the secrets of `config` (see `secrets_of`) with the redactor."""
    redact.add(secrets_of(config, os.environ if environ is None else environ))


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no secret is left in it; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be shown
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def _field(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if text and not re.search(r"[\s\"'=]", text):
        return text
    return json.dumps(text, ensure_ascii=False)


class StructuredFormatter(logging.Formatter):
    """The usual line, then each `extra` field as key=value; the whole line redacted."""

    # Loggers whose extra fields only repeat their message (aiohttp's access log line).
    fields_repeat_message: Final = frozenset({"aiohttp.access"})

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        if record.name in self.fields_repeat_message:
            return line
        fields = [
            f"{key}={_field(value)}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        ]
        return " ".join([line, *fields]) if fields else line

    def format(self, record: logging.LogRecord) -> str:
        # The filter has already redacted the record; this catches what another path added.
        return redact(super().format(record))


def parse_level(value: str | None) -> int | None:
    """`ZHOUBAO_LOG_LEVEL`'s value as a level: a name (any case) or a number; None if neither."""
    text = (value or "").strip()
    if not text:
        return DEFAULT_LEVEL
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    return level if isinstance(level, int) else None


@contextlib.contextmanager
def configured(
    environ: Mapping[str, str] | None = None, stream: IO[str] | None = None
) -> Iterator[None]:
    """Set up logging as the module doc says for the block; put everything back after it.

    Like `logging.basicConfig`, it adds its handler (on `stream`, default standard error, at
    `ZHOUBAO_LOG_LEVEL`) only when the root logger has none yet or `stream` is given: inside
    a program that set up logging itself (the tests' log capture), that program's handlers
    stay as they are and only get the filter, and the libraries the floors. Putting it all
    back afterwards matters there too.
    """
    env = os.environ if environ is None else environ
    asked = parse_level(env.get(LEVEL_ENV))
    redact.add(secrets_from_environment(env))
    root = logging.getLogger()
    touched = ("", *PAYLOAD_FLOORS, *CHATTY_LOGGERS)
    saved_levels = {name: logging.getLogger(name).level for name in touched}
    own: logging.Handler | None = None
    if stream is not None or not root.handlers:
        own = logging.StreamHandler(sys.stderr if stream is None else stream)
        own.setFormatter(StructuredFormatter())
        root.addHandler(own)
        root.setLevel(DEFAULT_LEVEL if asked is None else asked)
    redacting = RedactingFilter()
    covered = list(root.handlers)
    for handler in covered:
        handler.addFilter(redacting)
    level = root.getEffectiveLevel()
    for name, floor in PAYLOAD_FLOORS.items():
        logging.getLogger(name).setLevel(max(level, floor))
    chatty = level if level <= logging.DEBUG else max(level, logging.WARNING)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty)
    if asked is None:
        logging.getLogger(__name__).warning(
            "unknown log level, using WARNING", extra={"variable": LEVEL_ENV}
        )
    try:
        yield
    finally:
        for handler in covered:
            handler.removeFilter(redacting)
        if own is not None:
            root.removeHandler(own)
            own.close()
        for name, saved in saved_levels.items():
            logging.getLogger(name or None).setLevel(saved)
