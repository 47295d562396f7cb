"""Errors raised by the runtime; the CLI prints `str(error)` and exits."""

from __future__ import annotations


class BotError(Exception):
    """Base of the runtime's errors."""


class ConfigError(BotError):
    """A bad or missing setting; the CLI prints the message and exits with code 2.

    The message is complete and meant for the administrator (Chinese): it names the
    file, the dotted key path and the problem. `path` and `key` repeat the first two
    for callers that want them separately.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path  # the configuration file as given, if known
        # dotted key path of the (first) problem, e.g. "windows 第 4 项的 short_name"
        self.key = key


class ChannelError(BotError):
    """Sending through a channel failed."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after  # None: permanent, do not retry
