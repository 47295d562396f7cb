"""The console channel: one person chatting with zhoubao in a terminal.

Text only, so choices are shown as numbered lines and the engine maps a typed
number or label back to the choice. Documents are written to a folder and their
path is printed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bot.files import safe_name
from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing


class TextSink(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def format_outgoing(message: Outgoing) -> str:
    """Render a message as a text-only channel shows it: text, then numbered choices."""
    lines = [message.text]
    lines += [
        f"  {number}. {choice.label}" for number, choice in enumerate(message.choices, start=1)
    ]
    return "\n".join(lines)


class ConsoleChannel:
    kind = ChannelKind.CONSOLE

    def __init__(
        self,
        name: str,
        *,
        read_line: Callable[[], str | None],
        output: TextSink,
        documents_dir: Path,
        clock: Callable[[], datetime],
        prompt: str = "> ",
    ) -> None:
        self.key = ChatKey(ChannelKind.CONSOLE, name, name)
        self._read_line = read_line  # blocking; run in a thread
        self._output = output
        self._documents_dir = documents_dir
        self._clock = clock
        self._prompt = prompt

    async def start(self) -> None:
        self._documents_dir.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        return None

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        text = format_outgoing(message)
        if message.document is not None:
            path = self._documents_dir / safe_name(message.document.filename)
            await asyncio.to_thread(path.write_bytes, message.document.content)
            text += f"\n  [文件] {path}"
        self._output.write(f"\n{text}\n")
        self._output.flush()

    def show_prompt(self) -> None:
        self._output.write(self._prompt)
        self._output.flush()

    async def updates(self) -> AsyncIterator[Incoming]:
        while True:
            line = await asyncio.to_thread(self._read_line)
            if line is None:
                return
            yield Incoming(
                key=self.key,
                update_id=uuid.uuid4().hex,
                received_at=self._clock(),
                text=line.rstrip("\r\n"),
                display_name=self.key.user_id,
            )
