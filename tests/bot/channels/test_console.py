"""The console channel's reading: a paste is one message, a piped script a line per message."""

from __future__ import annotations

import asyncio
import os
import queue
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.channels.console import PASTE_END, PASTE_START, ConsoleChannel, paste_marking

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


class _Tty:
    def __init__(self, descriptor: int, is_terminal: bool = True) -> None:
        self._descriptor = descriptor
        self._is_terminal = is_terminal

    def isatty(self) -> bool:
        return self._is_terminal

    def fileno(self) -> int:
        return self._descriptor


class _Recorder:
    def __init__(self) -> None:
        self.written = ""

    def write(self, text: str, /) -> int:
        self.written += text
        return len(text)

    def flush(self) -> None:
        return None


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_terminal_marks_pastes_without_echoing_the_marks_while_the_chat_runs() -> None:
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        recorder = _Recorder()
        with paste_marking(_Tty(slave), _Tty(slave), recorder) as terminal:
            during = termios.tcgetattr(slave)
            asked = recorder.written
        after = termios.tcgetattr(slave)
    finally:
        os.close(master)
        os.close(slave)

    assert terminal
    assert asked == "\x1b[?2004h"
    assert recorder.written == "\x1b[?2004h\x1b[?2004l"
    assert before[3] & termios.ECHOCTL and not during[3] & termios.ECHOCTL
    assert after == before


def test_piped_input_is_not_a_terminal_and_the_terminal_is_left_alone() -> None:
    recorder = _Recorder()

    with paste_marking(_Tty(0, False), _Tty(1, False), recorder) as terminal:
        pass

    assert (terminal, recorder.written) == (False, "")


def test_input_from_a_terminal_with_output_to_a_file_joins_pastes_without_marks() -> None:
    recorder = _Recorder()

    with paste_marking(_Tty(0, True), _Tty(1, False), recorder) as terminal:
        pass

    assert (terminal, recorder.written) == (True, "")
