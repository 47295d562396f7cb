"""The console channel: one person chatting with zhoubao in a terminal.

Text only, so choices are shown as numbered lines and the engine maps a typed
number or label back to the choice. Documents are written to a folder and their
path is printed.

A paste is one message, line breaks and all, as on every other channel: a terminal in
bracketed-paste mode marks where a paste begins and ends, and the channel reads on until the
end mark (the person then presses Enter, as after typing). Where the terminal sends no marks,
lines that arrive within `paste_interval` of each other (a paste, not typing) are one message.
Input that is not a terminal (a script piped in) is read a line per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol

from bot.files import safe_name
from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing

# What a terminal in bracketed-paste mode (xterm's DECSET 2004) sends around a paste.
PASTE_START: Final = "\x1b[200~"
PASTE_END: Final = "\x1b[201~"
_BRACKETED_PASTE_ON: Final = "\x1b[?2004h"
_BRACKETED_PASTE_OFF: Final = "\x1b[?2004l"
# Lines of a paste arrive microseconds apart (or, over SSH, a packet apart); a person takes
# far longer than this to type a reply and press Enter.
PASTE_INTERVAL: Final = 0.15


class TextSink(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class Terminal(Protocol):
    def isatty(self) -> bool: ...

    def fileno(self) -> int: ...


def format_outgoing(message: Outgoing) -> str:
    """Render a message as a text-only channel shows it: text, then numbered choices."""
    lines = [message.text]
    lines += [
        f"  {number}. {choice.label}" for number, choice in enumerate(message.choices, start=1)
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def paste_marking(source: Terminal, screen: Terminal, output: TextSink) -> Iterator[bool]:
    """Ask the terminal to mark pastes while the chat runs; yield whether input is a terminal.

    Only where both input and output are the terminal (not `zhoubao chat | tee log`): the
    request goes out on the output. The marks are control characters, which a terminal in
    canonical mode echoes visibly (^[[200~) unless ECHOCTL is off: switch it off meanwhile.
    """
    if not (source.isatty() and screen.isatty()):
        yield source.isatty()
        return
    restore = _hide_control_echo(source)
    output.write(_BRACKETED_PASTE_ON)
    output.flush()
    try:
        yield True
    finally:
        output.write(_BRACKETED_PASTE_OFF)
        output.flush()
        restore()


def _hide_control_echo(source: Terminal) -> Callable[[], None]:
    """Switch off the terminal's ECHOCTL; return what restores it (nothing where impossible)."""
    try:
        import termios  # POSIX only
    except ImportError:
        return lambda: None
    descriptor = source.fileno()
    try:
        saved = termios.tcgetattr(descriptor)
        quiet = list(saved)
        quiet[3] &= ~getattr(termios, "ECHOCTL", 0)
        termios.tcsetattr(descriptor, termios.TCSANOW, quiet)
    except termios.error:
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(descriptor, termios.TCSANOW, saved)

    return restore


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
        paste_interval: float = 0.0,
    ) -> None:
        self.key = ChatKey(ChannelKind.CONSOLE, name, name)
        self._read_line = read_line  # blocking; run in a thread
        self._output = output
        self._documents_dir = documents_dir
        self._clock = clock
        self._prompt = prompt
        self._paste_interval = paste_interval  # 0: every line is a message

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
        """Yield each message typed or pasted, until the input ends."""
        pending: asyncio.Future[str | None] | None = None  # a read left waiting by a quiet spell
        while True:
            first = await (pending if pending is not None else self._read())
            pending = None
            if first is None:
                return
            lines = [first]
            ended = False
            # Inside a marked paste: read on to its end mark, however long that takes.
            inside = _inside_paste(first, inside=False)
            while inside and not ended:
                line = await self._read()
                ended = line is None
                if line is not None:
                    lines.append(line)
                    inside = _inside_paste(line, inside)
            # Lines that follow within the interval came together: a paste the terminal
            # did not mark.
            while self._paste_interval > 0 and not ended:
                pending = self._read()
                done, _ = await asyncio.wait({pending}, timeout=self._paste_interval)
                if not done:
                    break  # quiet: the message is complete; the read serves the next one
                line, pending = pending.result(), None
                ended = line is None
                if line is not None:
                    lines.append(line)
            yield Incoming(
                key=self.key,
                update_id=uuid.uuid4().hex,
                received_at=self._clock(),
                text=_message_text(lines),
                display_name=self.key.user_id,
            )
            if ended:
                return

    def _read(self) -> asyncio.Future[str | None]:
        """Read a line in a daemon thread: a read still waiting never holds up the exit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def settle(line: str | None, error: BaseException | None) -> None:
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(line)

        def read() -> None:
            line, error = None, None
            try:
                line = self._read_line()
            except Exception as raised:  # the reader's error belongs to the chat
                error = raised
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, line, error)

        threading.Thread(target=read, name="console-input", daemon=True).start()
        return future


def _inside_paste(line: str, inside: bool) -> bool:
    """Whether a marked paste is still open after `line` (`inside`: it was before)."""
    start, end = line.rfind(PASTE_START), line.rfind(PASTE_END)
    if start == end:  # neither mark
        return inside
    return start > end


def _message_text(lines: list[str]) -> str:
    """The lines read as one message, without paste marks or the final line break."""
    text = "\n".join(line.rstrip("\r\n") for line in lines)
    return text.replace(PASTE_START, "").replace(PASTE_END, "").rstrip("\r\n")
