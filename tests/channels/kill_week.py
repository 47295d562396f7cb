"""The kill test: a week of 20 windows on Telegram while `zhoubao run` is killed again and again.

A real `zhoubao run` process serves the loopback Bot API server (`telegram_server.py`); this
module plays the windows' staff and the editor in its chats, and SIGKILLs the process at
random moments (a seeded RNG; the seed is printed) and starts it again, until the week is
over. Then it checks what the people saw: every item whose confirmation (已提交…) reached a
window's chat is in the draft .docx delivered to the editor exactly once; every window got
its weekly prompt, every silent window its reminder(s), the editor the draft. Repeated
messages are counted, not hidden: the outbox sends at least once, so a kill between a send and
its commit sends that message again.

The clock. The child reads the real clock, and the week must not depend on today: each life
of the process runs under libfaketime (`FAKETIME="@2022-09-19 00:59:55"`, the monotonic clock
left real) at a chosen moment of the fixed week of 19–23 September 2022 (Shanghai time), and
its clock runs at the normal rate from there. Between lives the clock jumps forward: each of
the week's moments (the opening, both reminders, the deadline) falls inside a life that
starts a few seconds before it, the other lives start at random moments of the week, and the
last life, after the deadline, is not killed and runs until the draft is out and every chat
is quiet. A speed-up (`x60`) was tried and not kept: APScheduler computes its waits from the
wall clock but sleeps on the real monotonic clock, so every planned moment fired up to a tick
(30 real seconds) late. The libfaketime shipped by Debian must be installed
(`apt-get install libfaketime`); without it the run fails with a message saying so.

The windows. Of the 20 windows, `no_news` answer the prompt with 本周无动态, `silent` never
answer, and the others each submit `items_per_window` items through the real conversation
(提交动态, a subsection button, the text, 确认提交, 继续添加/完成), one update at a time; a
window starts after its prompt arrived and starts no new item after Thursday noon (items are
confirmed before the deadline unless kills keep the process down until after it: those come
back as 迟交, are counted, and must not be in the draft). A window reads the latest message of
its chat and answers it; a repeated or stale message at worst draws a refusal that offers the
same buttons again, so it recovers; it taps 确认提交 only on a preview that shows its own text.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

from handlers import messages
from handlers.conversations.intake import SUBSECTION_PREFIX
from report.normalise import normalise_item
from scheduler.clock import SHANGHAI
from tests.channels.telegram_server import TelegramServer

REPO: Final = Path(__file__).resolve().parents[2]
ZHOUBAO: Final = [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())"]
LIBFAKETIME: Final = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
NO_LIBFAKETIME: Final = (
    f"libfaketime is missing ({LIBFAKETIME}): the kill test puts `zhoubao run` at chosen "
    "moments of a fixed week with it. Install it with `apt-get install -y libfaketime`."
)

# The fixed week: Monday 19 to Friday 23 September 2022, an ordinary working week.
MONDAY: Final = datetime(2022, 9, 19, tzinfo=SHANGHAI)
SETUP_AT: Final = MONDAY.replace(hour=8, minute=30)  # everyone binds before the opening
OPEN_AT: Final = MONDAY.replace(hour=9)
THURSDAY_REMINDER: Final = MONDAY.replace(day=22, hour=15)
FRIDAY_REMINDER: Final = MONDAY.replace(day=23, hour=9)
DEADLINE: Final = MONDAY.replace(day=23, hour=12)
NO_NEW_ITEMS_AFTER: Final = MONDAY.replace(day=22, hour=12)
BUSY_UNTIL: Final = MONDAY.replace(day=20, hour=18)  # most lives are before: the busy days
MOMENTS: Final = (OPEN_AT, THURSDAY_REMINDER, FRIDAY_REMINDER, DEADLINE)
BEFORE_MOMENT: Final = timedelta(seconds=8)  # a moment's life starts this long before it
LEASE_GAP: Final = timedelta(seconds=50)  # the killed process's lease (45 s) has run out
MIN_GAP: Final = timedelta(minutes=5)  # between the planned starts of two lives

FIRST_CHAT: Final = 810_001
EDITOR_CHAT: Final = 819_999
QUIET: Final = 0.3  # s a chat must be quiet before its window answers the latest message
SETTLED: Final = 3.0  # s without any send, at the end, before the week is called over
STALL: Final = 60.0  # s the last life may go without progress before the run gives up


@dataclass(frozen=True)
class Plan:
    """What one run does; `kills` lives are killed, one more runs to the end."""

    kills: int = 10
    seed: int | None = None  # None: a random seed, printed
    windows: int = 20
    items_per_window: int = 3
    no_news: int = 2
    silent: int = 3
    kill_after: tuple[float, float] = (0.5, 10.0)  # s after the first poll, uniformly
    database_url: str | None = None  # None: SQLite in the work directory


@dataclass
class Window:
    """One window's staff member, as the driver plays them."""

    name: str  # 商务厅窗口
    chat: int
    kind: str  # "items", "no_news" or "silent"
    items: list[str]  # the texts it will submit, in order
    subsections: list[str]  # the subsection key of each
    seen: int = 0  # messages of its chat looked at
    answered: int = 0  # messages in its chat when it last sent an update
    waiting: bool = False  # an update of ours has had no message after it yet
    next_item: int = 0
    confirmed: list[str] = field(default_factory=list)  # texts, in the order confirmed
    late: list[str] = field(default_factory=list)
    no_news_recorded: bool = False
    prompted: bool = False
    sent_updates: int = 0
    transcript: list[tuple[float, str]] = field(default_factory=list)  # what it sent, when


@dataclass
class Result:
    """What a run saw, and what it found wrong (`problems`; empty when all held)."""

    seed: int
    kills: int = 0
    lives: int = 0
    seconds: float = 0.0
    kill_moments: list[str] = field(default_factory=list)  # fake Shanghai time of each kill
    windows: int = 0
    silent_windows: int = 0
    confirmed_items: int = 0
    late_items: int = 0
    items_in_draft: int = 0
    items_missing: int = 0  # confirmed, not in the draft
    items_doubled: int = 0  # confirmed, more than once in the draft
    items_unconfirmed_in_draft: int = 0  # in the draft, never seen confirmed
    late_in_draft: int = 0
    prompts: int = 0  # delivered, all windows
    windows_prompted: int = 0
    prompts_repeated: int = 0  # deliveries beyond the first, all windows
    reminders: int = 0  # delivered to the silent windows
    silent_windows_reminded: int = 0
    reminders_repeated: int = 0  # a reminder moment's message delivered more than once
    reminders_to_others: int = 0  # to the windows meant to answer, not answered by then
    drafts: int = 0  # .docx delivered to the editor
    outbox_rows: int = 0
    outbox_not_sent: int = 0
    deliveries: int = 0  # messages and documents the Bot API server accepted
    repeated_deliveries: int = 0  # deliveries beyond the outbox rows
    updates_sent: int = 0  # by the windows and the editor
    windows_unfinished: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "\n".join(
            [
                f"seed {self.seed}: {self.kills} kills over {self.lives} lives "
                f"in {self.seconds:.0f} s",
                f"items: {self.confirmed_items} confirmed, {self.items_in_draft} in the draft, "
                f"{self.items_missing} missing, {self.items_doubled} twice, "
                f"{self.items_unconfirmed_in_draft} in the draft unconfirmed; "
                f"{self.late_items} late ({self.late_in_draft} of them in the draft)",
                f"prompts: {self.prompts} delivered, {self.windows_prompted} windows prompted, "
                f"{self.prompts_repeated} repeated",
                f"reminders: {self.reminders} to the silent windows, "
                f"{self.silent_windows_reminded} reminded, {self.reminders_repeated} repeated, "
                f"{self.reminders_to_others} to the other windows (no item or 本周无动态 yet)",
                f"drafts to the editor: {self.drafts}",
                f"messages: {self.outbox_rows} queued, {self.deliveries} delivered, "
                f"{self.repeated_deliveries} repeated, {self.outbox_not_sent} not sent; "
                f"{self.updates_sent} updates from the people",
                f"kills at: {', '.join(self.kill_moments)}",
                "problems: " + ("; ".join(self.problems) if self.problems else "none"),
            ]
        )


def faketime_env(at: datetime) -> dict[str, str]:
    """The environment that starts a child's clock at `at`, running at the normal rate."""
    if not LIBFAKETIME.exists():
        raise RuntimeError(NO_LIBFAKETIME)
    utc = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"@{utc}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # libfaketime 0.9.10 (Debian 12) otherwise makes Python's GIL hand-offs spin.
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        "TZ": "UTC",
    }


def plan_lives(plan: Plan, rng: random.Random) -> list[datetime]:
    """The moments the lives start at (planned; a life starts later if the last ran on).

    One life a little before each of the week's moments; the others at random between the
    opening and Thursday noon, and between the later moments; the last after the deadline.
    """
    if plan.kills < len(MOMENTS):
        raise ValueError(f"the week needs at least {len(MOMENTS)} kills, one per moment")
    fixed = [moment - BEFORE_MOMENT for moment in MOMENTS]
    extra = max(0, plan.kills + 1 - len(fixed) - 1)
    # Most lives early in the week, when windows submit: a conversation left for more than
    # 12 hours is cancelled (上次的操作时间过长), so lives far apart would mostly cancel.
    spans = [
        (OPEN_AT + MIN_GAP, BUSY_UNTIL),
        (BUSY_UNTIL, NO_NEW_ITEMS_AFTER),
        (THURSDAY_REMINDER + MIN_GAP, FRIDAY_REMINDER - MIN_GAP),
        (FRIDAY_REMINDER + MIN_GAP, DEADLINE - MIN_GAP),
    ]
    weights = [0.6, 0.2, 0.1, 0.1]
    starts = list(fixed)
    while len(starts) < len(fixed) + extra:
        low, high = rng.choices(spans, weights)[0]
        moment = low + (high - low) * rng.random()
        moment = moment.replace(microsecond=0)
        if all(abs(moment - other) >= MIN_GAP for other in starts):
            starts.append(moment)
    starts.sort()
    return [*starts, DEADLINE + timedelta(minutes=2)]


def write_config(workdir: Path, server: TelegramServer, database_url: str | None) -> Path:
    from bot.config import write_default_config

    path = workdir / "zhoubao.toml"
    write_default_config(path)
    text = path.read_text("utf-8")
    off = "[channels.telegram]\nenabled = false"
    assert off in text, "the default configuration changed shape"
    text = text.replace(
        off, f'[channels.telegram]\nenabled = true\napi_url = "http://127.0.0.1:{server.port}"'
    )
    text = text.replace("[channels.console]\nenabled = true", "[channels.console]\nenabled = false")
    if database_url is not None:
        text = text.replace('data_dir = "data"', f'data_dir = "data"\nurl = "{database_url}"')
    path.write_text(text, "utf-8")
    # zhoubao run always serves /healthz and the rest: on a free port, not on 8080.
    from tests.channels.test_run_telegram import free_port, with_listen

    return with_listen(path, free_port())


async def create_invites(config: Path, windows: list[str]) -> tuple[list[str], str]:
    """One staff invite per window and one editor's, made at the setup moment."""
    from bot.app import open_app_from
    from handlers.framework.binding import create_invite
    from storage.models import Role
    from storage.repositories.windows import find_window

    app = await open_app_from(config, clock=lambda: SETUP_AT)
    try:
        async with app.sessions() as session, session.begin():
            codes = []
            for name in windows:
                window = await find_window(session, name)
                assert window is not None, name
                codes.append(
                    await create_invite(session, app.settings, window.id, Role.STAFF, SETUP_AT)
                )
            editor = await create_invite(session, app.settings, None, Role.EDITOR, SETUP_AT)
        return codes, editor
    finally:
        await app.close()


def configured_windows(config: Path, count: int) -> list[str]:
    from bot.config import load_config

    names = [w.name for w in load_config(config).windows_in_order()]
    assert len(names) >= count, f"the default configuration has {len(names)} windows"
    return names[:count]


def configured_subsections(config: Path) -> list[str]:
    from bot.config import load_config

    return [s.key for s in load_config(config).bulletin.subsections]


def item_text(window: int, index: int, short: str) -> str:
    # Already in the normalised form, so the preview and the draft show it as written.
    return (
        f"{short}推进第{index + 1}项重点工作，标记KW{window:02d}I{index + 1:02d}，"
        "办理时限压缩三成。"
    )


def marker(text: str) -> str:
    found = re.search(r"KW\d+I\d+", text)
    assert found is not None
    return found.group(0)


class Week:
    """One run: the server, the process's lives, the people in the chats."""

    def __init__(self, plan: Plan, workdir: Path, log: Callable[[str], None] = print) -> None:
        self.plan = plan
        self.workdir = workdir
        self.log = log
        self.seed = plan.seed if plan.seed is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.server = TelegramServer()
        self.windows: list[Window] = []
        self.editor_updates = 0
        self.result = Result(seed=self.seed)
        self._fake_start = SETUP_AT
        self._real_start = time.monotonic()
        self._running = False
        self._frozen = SETUP_AT

    # --- the clock of the current life ----------------------------------------------------

    def now(self) -> datetime:
        """The child's clock: its start moment plus the real time since it started."""
        if not self._running:
            return self._frozen
        return self._fake_start + timedelta(seconds=time.monotonic() - self._real_start)

    # --- the process ----------------------------------------------------------------------

    async def _start(self, config: Path, at: datetime, life: int) -> asyncio.subprocess.Process:
        self._fake_start, self._real_start, self._running = at, time.monotonic(), True
        log = (self.workdir / f"life-{life:03d}.log").open("wb")
        try:
            return await asyncio.create_subprocess_exec(
                *ZHOUBAO, "--config", str(config), "run",
                cwd=REPO,
                env={
                    **os.environ,
                    **faketime_env(at),
                    "ZHOUBAO_TELEGRAM_TOKEN": self.server.token,
                    "ZHOUBAO_LOG_LEVEL": "INFO",
                },
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )  # fmt: skip
        finally:
            log.close()

    def _stopped(self) -> None:
        self._frozen = self.now()
        self._running = False

    # --- the run --------------------------------------------------------------------------

    async def run(self) -> Result:
        if not LIBFAKETIME.exists():
            raise RuntimeError(NO_LIBFAKETIME)
        self.log(f"kill test: seed {self.seed}, {self.plan.kills} kills")
        began = time.monotonic()
        async with self.server:
            config = write_config(self.workdir, self.server, self.plan.database_url)
            names = configured_windows(config, self.plan.windows)
            codes, editor_code = await create_invites(config, names)
            self._make_windows(names, configured_subsections(config))
            await self._bind(config, codes, editor_code)
            driver = asyncio.create_task(self._drive())
            try:
                await self._lives(config)
            finally:
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await driver
            self.result.seconds = time.monotonic() - began
            self._write_transcripts()
            await self._check(config)
        return self.result

    def _make_windows(self, names: list[str], subsections: list[str]) -> None:
        kinds = (
            ["no_news"] * self.plan.no_news
            + ["silent"] * self.plan.silent
            + ["items"] * (len(names) - self.plan.no_news - self.plan.silent)
        )
        self.rng.shuffle(kinds)
        for number, (name, kind) in enumerate(zip(names, kinds, strict=True), start=1):
            count = self.plan.items_per_window if kind == "items" else 0
            short = name.removesuffix("窗口")
            self.windows.append(
                Window(
                    name=name,
                    chat=FIRST_CHAT + number,
                    kind=kind,
                    items=[item_text(number, i, short) for i in range(count)],
                    subsections=[subsections[i % len(subsections)] for i in range(count)],
                )
            )

    async def _bind(self, config: Path, codes: list[str], editor_code: str) -> None:
        """Before the week: everyone binds over Telegram to a process stopped cleanly after."""
        process = await self._start(config, SETUP_AT, 0)
        try:
            for window, code in zip(self.windows, codes, strict=True):
                self.server.inject_message(window.chat, window.chat, f"/start {code}")
            self.server.inject_message(EDITOR_CHAT, EDITOR_CHAT, f"/start {editor_code}")
            chats = [w.chat for w in self.windows] + [EDITOR_CHAT]
            await _wait_for(
                lambda: all(
                    any(
                        str(c.params.get("text", "")).startswith("绑定成功")
                        for c in self.server.sent_to(chat)
                    )
                    for chat in chats
                ),
                60.0,
                process,
            )
            await _wait_for(lambda: all(len(self.server.sent_to(c)) >= 2 for c in chats), 30.0)
            await self._enter_statistics(process)
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(process.wait(), 60)
            self._stopped()
        assert returncode == 0, f"the setup life ended with {returncode}; see life-000.log"
        for window in self.windows:
            window.seen = window.answered = len(self.server.sent_to(window.chat))

    async def _enter_statistics(self, process: asyncio.subprocess.Process) -> None:
        """The editor enters the week's statistics (the draft cannot be compiled without)."""
        for answer in ["统计", *(str(617000 + i) for i in range(6)), "1"]:
            before = len(self.server.sent_to(EDITOR_CHAT))
            self.server.inject_message(EDITOR_CHAT, EDITOR_CHAT, answer)
            self.editor_updates += 1
            await _wait_for(partial(self._more_than, EDITOR_CHAT, before), 30.0, process)
        await _wait_for(partial(self._got, EDITOR_CHAT, messages.STATISTICS_SAVED), 30.0, process)

    def _got(self, chat: int, text: str) -> bool:
        return any(c.params.get("text") == text for c in self.server.sent_to(chat))

    def _more_than(self, chat: int, count: int) -> bool:
        return len(self.server.sent_to(chat)) > count

    async def _lives(self, config: Path) -> None:
        starts = plan_lives(self.plan, self.rng)
        kills = len(starts) - 1
        for life, planned in enumerate(starts, start=1):
            at = max(planned, self.now() + LEASE_GAP).replace(microsecond=0)
            process = await self._start(config, at, life)
            self.result.lives += 1
            if life <= kills:
                await self._serving(process)
                low, high = self.plan.kill_after
                await asyncio.sleep(self.rng.uniform(low, high))
                if process.returncode is not None:
                    raise AssertionError(
                        f"life {life} ended by itself ({process.returncode}); see its log"
                    )
                killed_at = self.now()
                process.send_signal(signal.SIGKILL)
                await process.wait()
                self._stopped()
                self.result.kills += 1
                self.result.kill_moments.append(killed_at.strftime("%a %H:%M:%S"))
                self.log(f"life {life}: started {at:%a %H:%M:%S}, killed {killed_at:%a %H:%M:%S}")
                continue
            self.log(f"life {life}: started {at:%a %H:%M:%S}, the last")
            try:
                await self._settle(process)
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(process.wait(), 60)
                self._stopped()

    async def _serving(self, process: asyncio.subprocess.Process) -> None:
        """Wait until the new process polls the Bot API (or, now and then, not at all).

        Starting takes seconds on a busy machine; a kill timed from the start would mostly
        hit the start. One kill in five is, on purpose; the others count from the first poll.
        """
        if self.rng.random() < 0.2:
            return
        polls = len(self.server.calls_of("getUpdates"))
        await _wait_for(lambda: len(self.server.calls_of("getUpdates")) > polls, 60.0, process)

    async def _settle(self, process: asyncio.subprocess.Process) -> None:
        """Wait until the draft is out, the windows are done and nothing was sent lately."""
        last_count, last_change = -1, time.monotonic()
        while True:
            sends = [c for c in self.server.calls if c.method != "getUpdates"]
            if len(sends) != last_count:
                last_count, last_change = len(sends), time.monotonic()
            drafted = any(c.method == "sendDocument" for c in self.server.sent_to(EDITOR_CHAT))
            busy = [w.name for w in self.windows if w.waiting or self._wants(w)]
            quiet = time.monotonic() - last_change > SETTLED
            if drafted and not busy and quiet:
                return
            if process.returncode is not None:
                raise AssertionError(f"the last life ended by itself ({process.returncode})")
            if time.monotonic() - last_change > STALL:
                self.result.problems.append(
                    f"the last life stalled for {STALL:.0f} s: draft sent {drafted}, "
                    f"windows waiting {busy}"
                )
                return
            await asyncio.sleep(0.2)

    # --- the people -----------------------------------------------------------------------

    def _wants(self, window: Window) -> bool:
        """Whether the window still has something to start (only once it was prompted)."""
        if not window.prompted or self.now() >= NO_NEW_ITEMS_AFTER:
            return False
        if window.kind == "items":
            return window.next_item < len(window.items)
        return window.kind == "no_news" and not window.no_news_recorded

    async def _drive(self) -> None:
        while True:
            for window in self.windows:
                self._look(window)
            await asyncio.sleep(0.05)

    def _send_text(self, window: Window, text: str) -> None:
        self.server.inject_message(window.chat, window.chat, text)
        window.transcript.append((time.monotonic(), f"> {text}"))
        self._sent(window)

    def _tap(self, window: Window, value: str, message_id: int) -> None:
        self.server.inject_callback(window.chat, window.chat, value, message_id)
        window.transcript.append((time.monotonic(), f"> [{value}]"))
        self._sent(window)

    def _sent(self, window: Window) -> None:
        window.answered = len(self.server.sent_to(window.chat))
        window.waiting = True
        window.sent_updates += 1

    def _look(self, window: Window) -> None:
        calls = self.server.sent_to(window.chat)
        for call in calls[window.seen :]:
            self._note(window, str(call.params.get("text", "")))
        window.seen = len(calls)
        if len(calls) > window.answered:
            window.waiting = False
        if window.waiting or not self._running:
            return
        if calls and time.monotonic() - calls[-1].received_at < QUIET:
            return
        latest = calls[-1] if calls else None
        self._answer(window, latest)

    def _note(self, window: Window, text: str) -> None:
        """Record what a message tells: the prompt, a confirmation, a late item."""
        if text.startswith(f"{window.name}：请提交本周"):
            window.prompted = True
        elif text.startswith("已提交。本窗口本期已交 "):
            count = int(text.removeprefix("已提交。本窗口本期已交 ").split(" ")[0])
            current = (
                window.items[window.next_item] if window.next_item < len(window.items) else None
            )
            if count == len(window.confirmed) + 1 and current is not None:
                window.confirmed.append(current)
                window.next_item += 1
        elif text == messages.SUBMITTED_LATE:
            if window.next_item < len(window.items):
                window.late.append(window.items[window.next_item])
                window.next_item += 1
        elif text == messages.no_news_recorded(window.name):
            window.no_news_recorded = True

    def _answer(self, window: Window, latest: Any) -> None:
        """Answer the latest message of the chat, as a person reading it would."""
        text = str(latest.params.get("text", "")) if latest is not None else ""
        buttons = _buttons(latest)
        message_id = _message_id(latest)
        current = window.items[window.next_item] if window.next_item < len(window.items) else None
        starting = self._wants(window)
        if current is not None and any(v.startswith(SUBSECTION_PREFIX) for v in buttons):
            subsection = window.subsections[window.next_item]
            self._tap(window, SUBSECTION_PREFIX + subsection, message_id)
        elif current is not None and text.startswith("栏目："):
            self._send_text(window, current)
        elif current is not None and "confirm" in buttons:
            # 确认提交 only under a preview of this very text; else send the text again.
            if normalise_item(current) in text:
                self._tap(window, "confirm", message_id)
            else:
                self._tap(window, "change", message_id)
        elif "add" in buttons and "done" in buttons:
            self._tap(window, "add" if starting else "done", message_id)
        elif starting and window.kind == "items":
            self._send_text(window, messages.LABEL_SUBMIT)
        elif starting and window.kind == "no_news":
            self._send_text(window, messages.LABEL_NO_NEWS)

    def _write_transcripts(self) -> None:
        """Each window's chat, both ways, in the work directory (chats.txt)."""
        lines = []
        for window in self.windows:
            lines.append(f"== {window.name} ({window.kind}, chat {window.chat})")
            bot = [
                (c.received_at, f"< {c.method} {str(c.params.get('text', ''))[:60]!r} "
                 f"{_buttons(c)}")
                for c in self.server.sent_to(window.chat)
            ]  # fmt: skip
            lines += [text for _, text in sorted(bot + window.transcript)]
        (self.workdir / "chats.txt").write_text("\n".join(lines) + "\n", "utf-8")

    # --- the verdict ----------------------------------------------------------------------

    async def _check(self, config: Path) -> None:
        result = self.result
        confirmed = {marker(t): t for w in self.windows for t in w.confirmed}
        late = {marker(t) for w in self.windows for t in w.late}
        result.confirmed_items = len(confirmed)
        result.late_items = len(late)
        result.updates_sent = sum(w.sent_updates for w in self.windows)
        result.windows = len(self.windows)
        result.silent_windows = sum(1 for w in self.windows if w.kind == "silent")

        # The draft is a .docx and, where LibreOffice lays it out, its PDF: count the .docx.
        documents = [
            c
            for c in self.server.sent_to(EDITOR_CHAT)
            if c.method == "sendDocument" and c.files["document"][0].endswith(".docx")
        ]
        result.drafts = len(documents)
        if not documents:
            result.problems.append("the editor got no draft")
        else:
            found = Counter(
                re.findall(r"KW\d+I\d+", _docx_text(documents[-1].files["document"][1]))
            )
            result.items_in_draft = sum(found.values())
            result.items_missing = sum(1 for m in confirmed if found[m] == 0)
            result.items_doubled = sum(1 for m in confirmed if found[m] > 1)
            result.items_unconfirmed_in_draft = sum(
                1 for m in found if m not in confirmed and m not in late
            )
            result.late_in_draft = sum(1 for m in late if found[m])
            for name, value in (
                ("confirmed items missing from the draft", result.items_missing),
                ("confirmed items in the draft more than once", result.items_doubled),
                ("unconfirmed items in the draft", result.items_unconfirmed_in_draft),
                ("late items in the draft", result.late_in_draft),
            ):
                if value:
                    result.problems.append(f"{value} {name}")

        period = "（9月19日—9月23日）"
        answered = {w.chat for w in self.windows if w.kind != "silent"}
        for window in self.windows:
            texts = [str(c.params.get("text", "")) for c in self.server.sent_to(window.chat)]
            prompts = texts.count(messages.weekly_prompt(window.name, period))
            reminders = texts.count(messages.reminder(window.name, period))
            result.prompts += prompts
            result.prompts_repeated += max(0, prompts - 1)
            if prompts:
                result.windows_prompted += 1
            else:
                result.problems.append(f"{window.name} got no prompt")
            if window.kind == "silent":
                result.reminders += reminders
                if reminders:
                    result.silent_windows_reminded += 1
                else:
                    result.problems.append(f"silent {window.name} got no reminder")
            elif window.chat in answered:
                result.reminders_to_others += reminders
            if window.kind == "items" and window.next_item < len(window.items):
                result.windows_unfinished += 1

        reminder_jobs = await self._outbox(config)
        silent = sum(1 for w in self.windows if w.kind == "silent")
        result.reminders_repeated = result.reminders - reminder_jobs * silent
        if result.reminders_repeated < 0:
            result.problems.append(
                f"{reminder_jobs} reminder jobs ran, {result.reminders} reminders reached "
                f"the {silent} silent windows"
            )

    async def _outbox(self, config: Path) -> int:
        """Compare the outbox rows with what the server accepted; return the reminder jobs."""
        from sqlalchemy import func, select

        from bot.app import open_app_from
        from scheduler.jobs import JOB_LEDGER
        from storage.models import OutboxMessage, OutboxStatus, ProcessedUpdate

        app = await open_app_from(config, clock=lambda: self._frozen)
        try:
            async with app.sessions() as session:
                rows = dict(
                    (await session.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )).all()
                )  # fmt: skip
                jobs = list(
                    await session.scalars(
                        select(ProcessedUpdate.update_id).where(
                            ProcessedUpdate.channel == JOB_LEDGER
                        )
                    )
                )
        finally:
            await app.close()
        self.log("jobs done: " + ", ".join(sorted(jobs)))
        result = self.result
        result.outbox_rows = sum(rows.values())
        result.outbox_not_sent = result.outbox_rows - rows.get(OutboxStatus.SENT, 0)
        sends = [
            c for c in self.server.calls
            if c.method in ("sendMessage", "sendDocument") and c.status == 200
        ]  # fmt: skip
        result.deliveries = len(sends)
        result.repeated_deliveries = result.deliveries - rows.get(OutboxStatus.SENT, 0)
        if result.outbox_not_sent:
            result.problems.append(f"{result.outbox_not_sent} outbox messages not sent")
        return sum(1 for job in jobs if job.startswith("remind:"))


async def _wait_for(
    predicate: Callable[[], bool],
    seconds: float,
    process: asyncio.subprocess.Process | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if process is not None and process.returncode is not None:
            raise AssertionError(f"zhoubao run ended ({process.returncode}); see its log")
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _buttons(call: Any) -> list[str]:
    if call is None:
        return []
    markup = call.params.get("reply_markup") or {}
    return [
        str(button.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]


def _message_id(call: Any) -> int:
    return 1  # the engine reads the tapped value, not the message it was on


def _current(window: Window) -> str | None:
    """The item the window is at, None when it has none left."""
    return window.items[window.next_item] if window.next_item < len(window.items) else None


def _docx_text(data: bytes) -> str:
    from docx import Document

    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.channels.kill_week [--kills N] [--seed S] [--postgres URL]`: one run."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tests.channels.kill_week")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--items", type=int, default=3, help="items per submitting window")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", type=Path, help="work directory to keep (logs, database)")
    parser.add_argument(
        "--postgres", metavar="URL", help="a server where a scratch database may be created"
    )
    args = parser.parse_args(argv)

    async def run(workdir: Path) -> Result:
        plan = Plan(kills=args.kills, seed=args.seed, items_per_window=args.items)
        if args.postgres is None:
            return await Week(plan, workdir).run()
        from benchmarks.framework import scratch_postgres

        async with scratch_postgres(args.postgres, "kills") as url:
            plan = Plan(**{**plan.__dict__, "database_url": url})
            return await Week(plan, workdir).run()

    with tempfile.TemporaryDirectory(prefix="zb-kills-") as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(workdir))
    print(result.summary())
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
