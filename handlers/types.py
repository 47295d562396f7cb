"""Channel-agnostic message types: what every adapter translates to and from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from report.text_gate import clean_optional, clean_text


class ChannelKind(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    WECHAT = "wechat"
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    WEB = "web"


@dataclass(frozen=True, slots=True)
class ChatKey:
    """One person in one chat on one channel."""

    channel: ChannelKind
    chat_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Incoming:
    key: ChatKey
    update_id: str  # the channel's id; duplicates are dropped
    received_at: datetime  # aware
    text: str | None = None
    choice: str | None = None  # a button's value; text channels send text instead
    display_name: str = ""

    def through_gate(self) -> Incoming:
        """This update with its texts through the text gate (report.text_gate)."""
        text, choice = clean_optional(self.text), clean_optional(self.choice)
        name = clean_text(self.display_name)
        if (text, choice, name) == (self.text, self.choice, self.display_name):
            return self
        return replace(self, text=text, choice=choice, display_name=name)


@dataclass(frozen=True, slots=True)
class Choice:
    value: str  # stable ASCII; stored and sent back by buttons
    label: str  # Chinese, from messages.py


@dataclass(frozen=True, slots=True)
class Document:
    filename: str
    content: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    text: str
    choices: tuple[Choice, ...] = ()
    document: Document | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """An outgoing message with its recipient."""

    to: ChatKey
    message: Outgoing
    dedupe_key: str | None = None  # a prompt or reminder goes out once per key
