"""`zhoubao demo`: play the reference week through the real engine and console channel."""

from __future__ import annotations

import io
import sys
import tempfile
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot import messages
from bot.app import App, open_app_from
from bot.channels.console import ConsoleChannel, TextSink
from bot.config import write_default_config
from bot.drafts import WrittenDraft, write_draft, written_text
from bot.outbox import Dispatcher
from handlers.framework.binding import create_invite
from handlers.types import ChannelKind
from scheduler.jobs import open_issue
from storage.models import Role
from storage.repositories import windows

SCRIPT = Path(__file__).with_name("demo_week.toml")
INVITE = "@invite"


@dataclass(frozen=True, slots=True)
class DemoResult:
    data_dir: Path
    draft: WrittenDraft
    transcript: str


class _Speaker(io.TextIOBase):
    """Echo what the bot tells one person, indented under their name."""

    def __init__(self, name: str, sink: TextSink) -> None:
        self._name = name
        self._sink = sink

    def write(self, text: str) -> int:
        if text.strip():
            body = "\n".join("    " + line for line in text.strip("\n").splitlines())
            self._sink.write(f"  [机器人 → {self._name}]\n{body}\n")
        return len(text)


async def run_demo(directory: Path | None, *, verbose: bool = True) -> DemoResult:
    """Play the demo week in `directory` (a new temporary one by default)."""
    started = time.monotonic()
    data_dir = directory or Path(tempfile.mkdtemp(prefix="zhoubao-demo-"))
    config_path = data_dir / "zhoubao.toml"
    write_default_config(config_path)
    script = tomllib.loads(SCRIPT.read_text(encoding="utf-8"))
    with config_path.open("a", encoding="utf-8") as config_file:
        # The demo replays the reference issue, so it continues the reference's numbering.
        numbering = script["numbering"]
        config_file.write(
            f"\n[numbering]\nyear = {numbering['year']}\n"
            f"next_number = {numbering['next_number']}\nnext_total = {numbering['next_total']}\n"
        )
    sink: TextIO = sys.stdout if verbose else io.StringIO()
    transcript = io.StringIO()
    out = _Tee(sink, transcript)
    print(messages.DEMO_START.format(path=data_dir))
    app = await open_app_from(config_path)
    try:
        codes = await _invite_everyone(app, script["people"])
        written: WrittenDraft | None = None
        for turn in script["turns"]:
            if turn.get("open_issue"):
                async with app.sessions() as session, session.begin():
                    await open_issue(
                        session, app.calendar, script["issue_date"], app.numbering, app.clock()
                    )
            elif turn.get("publish"):
                written = await write_draft(app, data_dir / "drafts", script["publish_date"])
            else:
                lines = [codes[turn["who"]] if s == INVITE else s for s in turn["say"]]
                await _play(app, turn["who"], lines, out)
        assert written is not None, "the demo script must publish"
    finally:
        await app.close()
    print(written_text(written))
    print(messages.DEMO_DONE.format(seconds=time.monotonic() - started))
    return DemoResult(data_dir, written, transcript.getvalue())


async def _invite_everyone(app: App, people: list[dict[str, Any]]) -> dict[str, str]:
    codes = {}
    async with app.sessions() as session, session.begin():
        for person in people:
            window_id = None
            if "window" in person:
                window = await windows.find_window(session, person["window"])
                assert window is not None, f"demo window {person['window']} is not configured"
                window_id = window.id
            codes[person["name"]] = await create_invite(
                session, app.settings, window_id, Role(person["role"]), app.clock()
            )
    return codes


async def _play(app: App, name: str, lines: list[str], out: TextSink) -> None:
    """Type `lines` as `name` into a console channel, showing both sides."""
    queue = deque(lines)

    def read_line() -> str | None:
        if not queue:
            return None
        line = queue.popleft()
        out.write(f"【{name}】{line}\n")
        return line

    channel = ConsoleChannel(
        name,
        read_line=read_line,
        output=_Speaker(name, out),
        documents_dir=app.data_dir / "documents" / name,
        clock=app.clock,
        prompt="",
    )
    await channel.start()
    dispatcher = Dispatcher(app.sessions, {ChannelKind.CONSOLE: channel}, app.clock)
    await dispatcher.drain(ChannelKind.CONSOLE, chat_id=name)  # the prompt, if any
    async for update in channel.updates():
        await app.engine.handle(update)
        await dispatcher.drain(ChannelKind.CONSOLE, chat_id=name)


class _Tee(io.TextIOBase):
    def __init__(self, *sinks: TextSink) -> None:
        self._sinks = sinks

    def write(self, text: str) -> int:
        for sink in self._sinks:
            sink.write(text)
        return len(text)
