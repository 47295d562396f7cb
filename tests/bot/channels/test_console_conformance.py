"""The intake user stories on the console channel (`zhoubao chat`)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.outbox import Dispatcher
from handlers.types import ChannelKind, Incoming
from tests.bot.channels.conformance import STORIES, Received, Story, split_numbered
from tests.fakes import app, clock

__all__ = ["app", "clock"]  # fixtures

DOCUMENT_LINE = "  [文件] "


class _Screen:
    """What one terminal shows: each message the channel writes, one entry per message."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str, /) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        return None


class ConsoleDriver:
    """People typing into `zhoubao chat` terminals that share one database."""

    def __init__(self, app: App, documents: Path) -> None:
        self.app = app
        self._documents = documents
        self._people: dict[str, tuple[ConsoleChannel, deque[str], _Screen, Dispatcher]] = {}
        self._streams: dict[str, AsyncIterator[Incoming]] = {}
        self._read: dict[str, int] = {}
        self._last: dict[str, Received] = {}

    def _person(self, who: str) -> tuple[ConsoleChannel, deque[str], _Screen, Dispatcher]:
        if who not in self._people:
            lines: deque[str] = deque()
            screen = _Screen()
            channel = ConsoleChannel(
                who,
                read_line=lambda: lines.popleft() if lines else None,
                output=screen,
                documents_dir=self._documents / who,
                clock=self.app.clock,
            )
            dispatcher = Dispatcher(
                self.app.sessions, {ChannelKind.CONSOLE: channel}, self.app.clock
            )
            self._people[who] = (channel, lines, screen, dispatcher)
            self._streams[who] = channel.updates()
            self._read[who] = 0
        return self._people[who]

    async def send(self, who: str, text: str) -> None:
        channel, lines, _, _ = self._person(who)
        await channel.start()
        lines.append(text)
        update = await anext(self._streams[who])
        await self.app.engine.handle(update)

    async def choose(self, who: str, label: str) -> None:
        last = self._last[who]
        await self.send(who, str(last.labels.index(label) + 1))  # typed, as on a phone

    async def inbox(self, who: str) -> list[Received]:
        _, _, screen, dispatcher = self._person(who)
        await dispatcher.drain(ChannelKind.CONSOLE, chat_id=who)
        new = screen.writes[self._read[who] :]
        self._read[who] = len(screen.writes)
        received = []
        for write in new:
            lines = write.strip("\n").split("\n")
            document = None
            if lines[-1].startswith(DOCUMENT_LINE):
                document = Path(lines.pop()[len(DOCUMENT_LINE) :]).name
            message = split_numbered("\n".join(lines))
            received.append(Received(message.text, message.labels, document))
        for message in received:
            if message.labels:
                self._last[who] = message
        return received


@pytest.mark.parametrize("story", list(STORIES))
async def test_story_on_console(app: App, tmp_path: Path, story: str) -> None:
    await STORIES[story](Story(ConsoleDriver(app, tmp_path / "documents")))
