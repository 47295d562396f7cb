"""Test doubles and drivers shared by the handler and end-to-end tests.

`RecordingChannel` is a fake channel: these tests are about the conversations, not about
a chat network, so it records what the outbox dispatcher hands it instead of talking to a
peer. The channel conformance tests use real peers.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import App, open_app
from bot.config import Config, load_config, write_default_config
from bot.outbox import Dispatcher
from handlers.framework.binding import create_invite
from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing
from scheduler.clock import FrozenClock
from storage.models import Role
from storage.repositories import windows

_update_ids = itertools.count(1)


@dataclass
class RecordingChannel:
    """A fake channel that keeps every message it is asked to send."""

    kind: ChannelKind = ChannelKind.CONSOLE
    sent: list[tuple[ChatKey, Outgoing]] = field(default_factory=list)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        self.sent.append((to, message))

    async def updates(self) -> AsyncIterator[Incoming]:
        return
        yield  # pragma: no cover - an empty async generator


# The reference issue (2022年第31期（总第406期）) continues these numbers.
REFERENCE_NUMBERING = "\n[numbering]\nyear = 2022\nnext_number = 31\nnext_total = 406\n"


def write_reference_config(path: Path) -> None:
    """The default configuration, numbered to continue with the reference issue."""
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(REFERENCE_NUMBERING)


def test_config(tmp_path: Path, db_url: str) -> Config:
    """The default configuration (the reference issue's numbering), on the test database."""
    path = tmp_path / "zhoubao.toml"
    if not path.exists():
        write_reference_config(path)
    config = load_config(path)
    # No LibreOffice run for every draft a test compiles; the PDF tests turn it back on.
    draft = config.draft.model_copy(update={"pdf": False})
    storage = config.storage.model_copy(update={"url": db_url})
    return config.model_copy(update={"storage": storage, "draft": draft})


async def start_app(tmp_path: Path, db_url: str, clock: FrozenClock) -> App:
    return await open_app(test_config(tmp_path, db_url), clock.now)


class Person:
    """Someone chatting with zhoubao: sends updates and reads what reached them."""

    def __init__(self, app: App, name: str, channel: RecordingChannel) -> None:
        self.app = app
        self.key = ChatKey(channel.kind, name, name)
        self.channel = channel
        self.dispatcher = Dispatcher(app.sessions, {channel.kind: channel}, app.clock)
        self._read = 0

    async def send(
        self, text: str | None = None, *, choice: str | None = None, update_id: str | None = None
    ) -> list[Outgoing]:
        """Send one message and return everything delivered to this person since last time."""
        await self.app.engine.handle(self.incoming(text, choice=choice, update_id=update_id))
        return await self.inbox()

    def incoming(
        self, text: str | None = None, *, choice: str | None = None, update_id: str | None = None
    ) -> Incoming:
        return Incoming(
            key=self.key,
            update_id=update_id or f"u{next(_update_ids)}",
            received_at=self.app.clock(),
            text=text,
            choice=choice,
            display_name=self.key.user_id,
        )

    async def inbox(self) -> list[Outgoing]:
        """Deliver queued messages and return the new ones addressed to this person."""
        await self.dispatcher.drain(self.channel.kind)
        mine = [message for to, message in self.channel.sent if to == self.key]
        new, self._read = mine[self._read :], len(mine)
        return new

    async def say_all(self, *lines: str) -> list[Outgoing]:
        replies: list[Outgoing] = []
        for line in lines:
            replies += await self.send(line)
        return replies


async def invite_code(app: App, role: Role, window: str | None = None) -> str:
    async with app.sessions() as session, session.begin():
        window_id = None
        if window is not None:
            found = await windows.find_window(session, window)
            assert found is not None
            window_id = found.id
        return await create_invite(session, app.settings, window_id, role, app.clock())


async def bound_person(
    app: App, channel: RecordingChannel, name: str, role: Role, window: str | None = None
) -> Person:
    person = Person(app, name, channel)
    await person.send(await invite_code(app, role, window))
    return person


def texts(messages: list[Outgoing]) -> list[str]:
    return [message.text for message in messages]


def now_in_shanghai(year: int, month: int, day: int, hour: int = 10) -> datetime:
    from scheduler.clock import SHANGHAI

    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


# --- fixtures, imported by the conftest.py of the test folders that drive conversations ---


@pytest.fixture
def clock() -> FrozenClock:
    """Wednesday of the reference issue's week (2022-09-13 … 16), 10:00 in Shanghai."""
    return FrozenClock(now_in_shanghai(2022, 9, 14))


@pytest.fixture
async def app(tmp_path: Path, db_url: str, clock: FrozenClock) -> AsyncIterator[App]:
    application = await start_app(tmp_path, db_url, clock)
    try:
        yield application
    finally:
        await application.close()


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()
