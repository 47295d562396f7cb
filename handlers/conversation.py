"""The shape of a conversation: states with a prompt and a step, kept in the database.

Modelled on python-telegram-bot's ConversationHandler (entry points, states,
fallback, timeout) but channel-agnostic, with aiogram-style string state names.
A state name is stored data: "intake.text" belongs to the conversation "intake".
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.bulletin import Typesetter, docx_only
from handlers.types import ChatKey, Choice, Envelope, Incoming, Outgoing
from report.bulletin import BulletinTemplate
from storage.models import Member

END: Final = "end"  # next_state=END deletes the state row
# In a state's data: the choices its prompt offered last, as [value, label] pairs. The engine
# writes it with every prompt, so a typed "2" maps back and a button is checked against it.
CHOICES_KEY: Final = "_choices"


@dataclass(slots=True)
class Reply:
    messages: list[Outgoing]
    next_state: str | None = None  # None: stay where we are; END: conversation over


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


MEMO_WINDOW: Final = "window"  # the member's window (a storage.models.Window or None)
MEMO_ISSUE: Final = "issue"  # issues.current_issue (an Issue or None)


@dataclass(slots=True)
class StepContext:
    """Everything a step may use; `data` is saved with the state."""

    session: AsyncSession
    settings: HandlerSettings
    key: ChatKey
    member: Member | None
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)
    others: list[Envelope] = field(default_factory=list)  # messages to other people
    # Rows a step looks up more than once (MEMO_WINDOW, MEMO_ISSUE): asked for once a step.
    memo: dict[str, Any] = field(default_factory=dict)

    def send_to(self, envelope: Envelope) -> None:
        self.others.append(envelope)


Step = Callable[[StepContext, Incoming], Awaitable[Reply]]
Prompt = Callable[[StepContext], Awaitable[list[Outgoing]]]
Back = Callable[[StepContext], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class State:
    """One step of a conversation: how to ask, how to handle the answer, what help says.

    `back` answers 返回 (messages.BACK_WORDS) where the step offers no 返回 choice of its
    own: it returns the step before, with `data` set as that step expects. None: the menu.
    """

    prompt: Prompt
    handle: Step
    help: str
    back: Back | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    name: str
    states: Mapping[str, State]  # "intake.text" -> State
    timeout: timedelta = timedelta(hours=12)


def offered_values(ctx: StepContext) -> set[str]:
    """The values of the choices the step's prompt offered (nothing for a free-text step)."""
    return {str(pair[0]) for pair in ctx.data.get(CHOICES_KEY, []) if pair}


def choice_or_text(update: Incoming) -> str:
    """Return the button value if there is one, else the stripped text."""
    if update.choice is not None:
        return update.choice
    return (update.text or "").strip()


# Marks around a typed number that do not change it: 2.  2、  (2)  【2】  and the forms
# NFKC spells out (⑵ -> (2), ⒉ -> 2.).
_NUMBER_DECORATION: Final = " .。．、,，:：()（）[]【】"
_MAX_CHOICE_DIGITS: Final = 4  # int() of a long string is slow or refused; no menu is that long


def typed_number(text: str) -> int | None:
    """The whole number a person typed to pick a choice, else None.

    Accepts 2, ２, 2., 2、, (2), ②, ⑵, ⒉, ❷, ², ₂, 二: every form whose NFKC folding, or whose
    Unicode numeric value as a single character, is a plain positive number. Never raises.
    """
    folded = unicodedata.normalize("NFKC", text).strip().strip(_NUMBER_DECORATION)
    if folded.isascii():
        if folded.isdecimal() and len(folded) <= _MAX_CHOICE_DIGITS and int(folded) >= 1:
            return int(folded)
        return None
    if len(folded) == 1:  # ❷ ➋ 二: numeric characters NFKC leaves alone
        value = unicodedata.numeric(folded, 0)
        if value >= 1 and value == int(value):
            return int(value)
    return None


def resolve_choice(text: str, offered: list[Choice]) -> str | None:
    """Map a typed reply (a label, a value, or the number shown before it) to an offered value.

    The one place a typed number picks a choice: a number out of range, or anything else, is
    None, never an error.
    """
    stripped = text.strip()
    for choice in offered:
        if stripped == choice.label or stripped == choice.value:
            return choice.value
    number = typed_number(stripped)
    if number is not None and 1 <= number <= len(offered):
        return offered[number - 1].value
    return None
