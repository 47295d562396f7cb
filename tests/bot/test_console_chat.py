"""The console channel end to end: people chatting in real `zhoubao chat` processes.

The administrator's commands (`init`, `invite`, `issue open`, `status`) run in-process
through `bot.cli.main`; each `zhoubao chat` is a real process reading its stdin, as in a
terminal, on the same SQLite database.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot import messages
from bot.channels.console import PASTE_END, PASTE_START
from bot.config import load_config
from handlers import messages as handler_messages
from storage.models import Role
from tests.bot.cli_run import Run, zhoubao
from tests.fakes import write_reference_config

REFERENCE_DAY = "2022-09-14"
REFERENCE_ISSUE_LINE = "2022年第31期（总第406期）"
REFERENCE_PERIOD = "（9月13日—9月16日）"
REFERENCE_NOW = datetime(2022, 9, 14, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # that Wednesday
ITEM_TEXT = "商务厅窗口推广电子营业执照在商务政务服务领域的应用，企业办事无需另行提交纸质营业执照。"
STAFF = "商务厅小王"
EDITOR = "编辑老陈"
# A safety net only: each wait ends as soon as the awaited output arrives.
PROCESS_TIMEOUT = 30.0


def invite(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> str:
    run = zhoubao(capsys, config, "invite", *args)
    assert run.code == 0, run.err
    found = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", run.out)
    assert found is not None, run.out
    return found[0]


def chat_command(config: Path, name: str) -> list[str]:
    script = Path(sys.executable).with_name("zhoubao")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    return [*program, "--config", str(config), "chat", "--as", name]


def lines(*typed: str) -> str:
    return "".join(f"{line}\n" for line in typed)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "zhoubao.toml"
    write_reference_config(path)
    return path


def open_reference_issue(capsys: pytest.CaptureFixture[str], config: Path) -> Run:
    """`zhoubao issue open --date 2022-09-14`, run while that week's deadline is ahead.

    Only this command travels in time: the chats are real processes on the real clock (the
    issue stays open for them: closing it is `zhoubao run`'s job, not running here).
    """
    with time_machine.travel(REFERENCE_NOW, tick=True):
        return zhoubao(capsys, config, "issue", "open", "--date", REFERENCE_DAY)


def test_staff_submits_item_in_console_chat_when_issue_is_open(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = invite(capsys, config_path, "--window", "商务厅", "--role", "staff")
    assert open_reference_issue(capsys, config_path).code == 0
    subsection = load_config(config_path).bulletin.subsections[0].title

    chat = subprocess.run(
        chat_command(config_path, STAFF),
        input=lines(code, "1", "1", ITEM_TEXT, "1", "2"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=PROCESS_TIMEOUT,
    )

    assert chat.returncode == 0, chat.stderr
    out = chat.stdout
    assert out.startswith(messages.CHAT_WELCOME.format(name=STAFF) + "\n")
    assert handler_messages.bound("商务厅窗口", Role.STAFF) in out
    assert f"\n  1. {handler_messages.LABEL_SUBMIT}\n" in out
    assert f"\n  2. {handler_messages.LABEL_NO_NEWS}\n" in out
    assert f"\n  1. {subsection}\n" in out
    preview = handler_messages.preview(subsection, ITEM_TEXT)
    assert f"\n{preview}\n  1. {handler_messages.LABEL_CONFIRM}\n" in out
    assert f"\n  1. {handler_messages.LABEL_ADD_MORE}\n  2. {handler_messages.LABEL_DONE}\n" in out
    assert handler_messages.finished(1) in out
    assert out.endswith(f"\n{messages.CHAT_BYE}\n")
    assert "Traceback" not in chat.stderr

    status = zhoubao(capsys, config_path, "status")
    names = [window.name for window in load_config(config_path).windows_in_order()]
    report = handler_messages.status_report(
        REFERENCE_ISSUE_LINE,
        REFERENCE_PERIOD,
        ["商务厅窗口"],
        [],
        names[1:],
        1,
        state=handler_messages.issue_state("open", "9月16日（周五）12:00", None),
    )
    assert status.code == 0
    assert status.out.startswith(report + "\n")


async def _read_until(stream: asyncio.StreamReader, wanted: str, seen: bytearray) -> None:
    """Read `stream` into `seen` until `wanted` appears, then until the next "> " prompt.

    The chat prints the prompt once a delivery is over (the outbox row marked sent). Closing
    its input in the middle of a delivery can leave `zhoubao chat` hanging at exit, because
    bot/cli.py chat() cancels its poller without awaiting it before closing the database.
    """
    target, prompt = wanted.encode(), b"\n> "
    while target not in seen or prompt not in seen[seen.index(target) :]:
        chunk = await stream.read(4096)
        if not chunk:
            raise AssertionError(f"output ended before {wanted!r}:\n{seen.decode()}")
        seen += chunk


async def _start_chat(config: Path, name: str, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *chat_command(config, name),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )


async def _say(process: asyncio.subprocess.Process, *typed: str) -> None:
    assert process.stdin is not None
    process.stdin.write(lines(*typed).encode())
    await process.stdin.drain()


async def test_staff_chat_shows_reminder_when_editor_reminds_from_another_chat(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staff_code = await asyncio.to_thread(
        invite, capsys, config_path, "--window", "商务厅", "--role", "staff"
    )
    editor_code = await asyncio.to_thread(invite, capsys, config_path, "--role", "editor")
    opened = await asyncio.to_thread(open_reference_issue, capsys, config_path)
    assert opened.code == 0, opened.err

    # Two terminals on one database, started together.
    staff = await _start_chat(config_path, STAFF, tmp_path)
    editor = await _start_chat(config_path, EDITOR, tmp_path)
    assert staff.stdout is not None and editor.stdout is not None
    staff_seen, editor_seen = bytearray(), bytearray()
    try:
        await _say(staff, staff_code)
        await _say(editor, editor_code)
        staff_bound = handler_messages.bound("商务厅窗口", Role.STAFF)
        editor_bound = handler_messages.bound(handler_messages.HALL, Role.EDITOR)
        await asyncio.wait_for(
            asyncio.gather(
                _read_until(staff.stdout, staff_bound, staff_seen),
                _read_until(editor.stdout, editor_bound, editor_seen),
            ),
            PROCESS_TIMEOUT,
        )

        await _say(editor, handler_messages.LABEL_REMIND)
        unbound = len(load_config(config_path).windows) - 1  # all but 商务厅
        await asyncio.wait_for(
            _read_until(editor.stdout, handler_messages.reminded(1, unbound), editor_seen),
            PROCESS_TIMEOUT,
        )
        # The staff member has typed nothing since binding: the reminder arrives by itself,
        # through the chat's poll of the shared outbox.
        reminder = handler_messages.reminder("商务厅窗口", REFERENCE_PERIOD)
        await asyncio.wait_for(_read_until(staff.stdout, reminder, staff_seen), PROCESS_TIMEOUT)

        staff_rest, staff_err = await asyncio.wait_for(staff.communicate(b""), PROCESS_TIMEOUT)
        editor_rest, editor_err = await asyncio.wait_for(editor.communicate(b""), PROCESS_TIMEOUT)
        staff_seen += staff_rest
        editor_seen += editor_rest
    finally:
        for process in (staff, editor):
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert (staff.returncode, editor.returncode) == (0, 0), (staff_err, editor_err)
    out = staff_seen.decode()
    assert f"\n{reminder}\n  1. {handler_messages.LABEL_SUBMIT}\n" in out
    assert out.endswith(f"\n{messages.CHAT_BYE}\n")
    assert editor_seen.decode().endswith(f"\n{messages.CHAT_BYE}\n")


def test_a_new_console_chat_shows_the_step_the_person_left_and_refuses_a_blind_number(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = invite(capsys, config_path, "--window", "商务厅", "--role", "staff")
    assert open_reference_issue(capsys, config_path).code == 0
    subsection = load_config(config_path).bulletin.subsections[0].title

    def chat(*typed: str) -> str:
        run = subprocess.run(
            chat_command(config_path, STAFF),
            input=lines(*typed),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
            timeout=PROCESS_TIMEOUT,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    chat(code, "1", "1")  # left at the text step
    out = chat("1")

    welcome = messages.CHAT_WELCOME.format(name=STAFF)
    resumed = f"{welcome}\n\n{handler_messages.RESUMING}\n\n{handler_messages.ask_text(subsection)}"
    assert out.startswith(resumed + "\n")
    assert handler_messages.item_is_a_number(subsection) in out


class _Terminal:
    """The other end of a pseudo-terminal: what `zhoubao chat` shows, and the keyboard."""

    def __init__(self, master: int) -> None:
        self._master = master
        self._seen = ""
        self._read = 0  # what earlier waits consumed

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def wait_for(self, wanted: str) -> None:
        """Read until `wanted` appears after what earlier waits found."""
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while wanted not in self._seen[self._read :]:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._master], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"no {wanted!r} on the terminal:\n{self._seen}")
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # the chat exited and closed its side
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed before {wanted!r}:\n{self._seen}")
            self._seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        self._read += self._seen[self._read :].index(wanted) + len(wanted)

    @property
    def seen(self) -> str:
        return self._seen


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_pasted_text_with_a_line_break_is_one_item_in_a_terminal(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pty

    code = invite(capsys, config_path, "--window", "商务厅", "--role", "staff")
    assert open_reference_issue(capsys, config_path).code == 0
    subsection = load_config(config_path).bulletin.subsections[0].title
    piped = subprocess.run(
        chat_command(config_path, STAFF),
        input=lines(code, "1", "1"),  # to the text step
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=PROCESS_TIMEOUT,
    )
    assert piped.returncode == 0, piped.stderr

    master, slave = pty.openpty()
    chat = subprocess.Popen(
        chat_command(config_path, STAFF),
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    os.close(slave)
    terminal = _Terminal(master)
    try:
        terminal.wait_for(handler_messages.ask_text(subsection))
        # What a terminal in bracketed-paste mode sends for a two-line paste, then Enter.
        terminal.type(f"{PASTE_START}延时服务期间共办理\n7463962件业务。{PASTE_END}\n")
        terminal.wait_for(handler_messages.preview(subsection, "延时服务期间共办理7463962件业务。"))
        terminal.type("1\n")
        terminal.wait_for(handler_messages.submitted(1))
        terminal.type("\x04")  # Ctrl-D: end of input
        terminal.wait_for(messages.CHAT_BYE)
        assert chat.wait(PROCESS_TIMEOUT) == 0
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
        os.close(master)
    assert handler_messages.CHOOSE_NUMBER not in terminal.seen
    assert "\x1b[?2004h" in terminal.seen  # the chat asked the terminal to mark pastes
