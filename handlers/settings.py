"""What the handlers need from the configuration, passed in by `bot`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from handlers.services.issue_draft import Typesetter, docx_only
from report.bulletin import BulletinTemplate


def monday_to_friday(day: date) -> bool:
    """A stand-in working-day calendar; `bot` passes the China calendar's."""
    return day.weekday() < 5


@dataclass(frozen=True, slots=True)
class HandlerSettings:
    """What the handlers need from the configuration, passed in by `bot`."""

    template: BulletinTemplate
    timezone_name: str = "Asia/Shanghai"
    invite_ttl: timedelta = timedelta(days=14)
    # The key invite codes are hashed with (`bot` loads it from the data folder); a key of
    # its own per process by default, so that no two test apps share one by accident.
    invite_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # A chat no member uses gets at most one answer per interval; the rest is only counted.
    stranger_reply_interval: timedelta = timedelta(minutes=10)
    max_item_chars: int = 8000
    is_workday: Callable[[date], bool] = monday_to_friday  # deadlines fall on working days
    min_item_chars: int = 6  # letters and digits; bot.config IntakeConfig
    typeset: Typesetter = docx_only  # the draft's .docx and PDF; bot.typeset runs LibreOffice
