"""The console channel's reading: a paste is one message, a piped script a line per message."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from bot.channels.console import PASTE_END, PASTE_START, ConsoleChannel

SAFETY = 5.0  # seconds; each wait ends as soon as its message arrives


class _Keyboard:
    """Lines as a terminal hands them over: `readline` blocks until one is there."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()

    def type(self, *lines: str) -> None:
        for line in lines:
            self._lines.put(line + "\n")

    def end(self) -> None:
        self._lines.put(None)

    def readline(self) -> str | None:
        return self._lines.get()


class _Screen:
    def write(self, text: str, /) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def _channel(keyboard: _Keyboard, tmp_path: Path, paste_interval: float) -> ConsoleChannel:
    return ConsoleChannel(
        "商务厅小王",
        read_line=keyboard.readline,
        output=_Screen(),
        documents_dir=tmp_path,
        clock=lambda: datetime(2022, 9, 14, 2, tzinfo=UTC),
        paste_interval=paste_interval,
    )


async def _next_text(updates: AsyncIterator[object]) -> str | None:
    update = await asyncio.wait_for(anext(updates), SAFETY)
    return getattr(update, "text", None)


async def test_a_marked_paste_with_line_breaks_is_one_message(tmp_path: Path) -> None:
    keyboard = _Keyboard()
    updates = _channel(keyboard, tmp_path, 0.0).updates()
    # A terminal in bracketed-paste mode: the paste, then Enter after its end mark.
    keyboard.type(f"{PASTE_START}延时服务期间共办理", "7463962件业务。", "", f"第二段。{PASTE_END}")

    assert await _next_text(updates) == "延时服务期间共办理\n7463962件业务。\n\n第二段。"


async def test_a_marked_paste_ending_with_a_line_break_is_one_message(tmp_path: Path) -> None:
    keyboard = _Keyboard()
    updates = _channel(keyboard, tmp_path, 0.0).updates()
    keyboard.type(f"{PASTE_START}第一行", "第二行", PASTE_END)

    assert await _next_text(updates) == "第一行\n第二行"


async def test_the_line_after_a_marked_paste_is_the_next_message(tmp_path: Path) -> None:
    keyboard = _Keyboard()
    updates = _channel(keyboard, tmp_path, 0.0).updates()
    keyboard.type(f"{PASTE_START}第一行", f"第二行{PASTE_END}", "1")

    assert await _next_text(updates) == "第一行\n第二行"
    assert await _next_text(updates) == "1"


async def test_unmarked_lines_arriving_together_are_one_message(tmp_path: Path) -> None:
    keyboard = _Keyboard()
    # Generous, so a busy machine cannot split the two lines; the quiet spell ends the wait.
    updates = _channel(keyboard, tmp_path, 1.0).updates()
    keyboard.type("延时服务期间共办理", "7463962件业务。")

    first = await _next_text(updates)
    keyboard.type("1")  # typed after the answer came: a message of its own
    keyboard.end()

    assert first == "延时服务期间共办理\n7463962件业务。"
    assert await _next_text(updates) == "1"


async def test_each_line_is_a_message_when_input_is_piped(tmp_path: Path) -> None:
    keyboard = _Keyboard()
    updates = _channel(keyboard, tmp_path, 0.0).updates()
    keyboard.type("1", "1", "延时服务期间共办理7463962件业务。")
    keyboard.end()

    assert [await _next_text(updates) for _ in range(3)] == [
        "1",
        "1",
        "延时服务期间共办理7463962件业务。",
    ]
    assert [update async for update in updates] == []
