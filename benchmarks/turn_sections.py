"""Where a conversation turn's time goes: `python -m benchmarks.turn_sections [POSTGRES_URL]`.

Runs zhoubao's part of the turns benchmark (2,000 chats × 3 turns, SQLite, or PostgreSQL when
a URL is given) with a timer around the engine's batch and the calls inside it, and prints
microseconds a turn for each. A diagnostic, not a benchmark: it wraps the functions by
replacing them on their modules for the run, which adds a little to every figure. Sampling
profilers (py-spy) misplace time in a process whose work hops between threads, so the table in
docs/performance.md comes from this instead.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import bot.engine
import handlers.conversations.intake
from benchmarks import ptb_turns
from benchmarks.turns import EngineRun, zhoubao_on_postgres, zhoubao_turns
from storage.repositories import conversations, members, outbox, submissions, windows

CHATS = 2000
BATCH = "engine: the whole batch (session, BEGIN … COMMIT)"
SECTIONS: tuple[tuple[Any, str, str], ...] = (
    (bot.engine.Engine, "_run_batch", BATCH),
    (bot.engine.Engine, "_isolated", "  the steps, with their statements"),
    (submissions, "add_item", "    confirm: insert the item"),
    (submissions, "window_standing", "    confirm: the window's items and 本周无动态"),
    (handlers.conversations.intake, "normalise_item", "    preview: normalise_item"),
    (conversations, "mark_processed_many", "  batch: ledger"),
    (members, "get_members", "  batch: members"),
    (conversations, "load_states", "  batch: states"),
    (windows, "get_windows", "  batch: windows"),
    (conversations, "save_states", "  batch: new states"),
    (outbox, "enqueue_many", "  batch: outbox rows"),
)


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on = False

    def wrap(self, owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name)
        if asyncio.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self._add(label, started)

            setattr(owner, name, timed_async)
        else:

            @functools.wraps(function)
            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self._add(label, started)

            setattr(owner, name, timed)

    def _add(self, label: str, started: float) -> None:
        if self.on:
            self.seconds[label] += time.perf_counter() - started
            self.calls[label] += 1


def measure(run: Callable[[Path], Coroutine[Any, Any, EngineRun]]) -> None:
    timers = Timers()
    for owner, name, label in SECTIONS:
        timers.wrap(owner, name, label)
    # The benchmark's ticker starts and stops with the measured turns: so do the timers.
    ticker = ptb_turns.LoopTicker
    start, stop = ticker.start, ticker.stop
    window: dict[str, float] = {}

    def started(self: ptb_turns.LoopTicker) -> None:
        timers.on, window["from"], window["cpu_from"] = (
            True,
            time.perf_counter(),
            time.thread_time(),
        )
        start(self)

    async def stopped(self: ptb_turns.LoopTicker) -> float:
        if timers.on:
            timers.on, window["to"], window["cpu_to"] = (
                False,
                time.perf_counter(),
                time.thread_time(),
            )
        return await stop(self)

    ticker.start, ticker.stop = started, stopped  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="zb-sections-") as tmp:
        result = asyncio.run(run(Path(tmp)))
    wall = window["to"] - window["from"]
    turns = result.stats.turns
    busy = (window["cpu_to"] - window["cpu_from"]) / wall
    print(
        f"{result.backend}: {turns / wall:,.0f} turns/s, {wall * 1e6 / turns:.0f} µs a turn; "
        f"the event loop's thread busy {busy:.0%} of the time (its CPU time over the wall time)"
    )
    for label, seconds in timers.seconds.items():
        share = seconds / wall
        print(
            f"{seconds * 1e6 / turns:7.1f} µs {share:6.1%} {timers.calls[label]:6} calls  {label}"
        )
    outside = wall - timers.seconds[BATCH]
    print(f"{outside * 1e6 / turns:7.1f} µs {outside / wall:6.1%}  outside the batch")


def main(argv: list[str]) -> None:
    if argv:
        url = argv[0]
        measure(lambda tmp: zhoubao_on_postgres(url, tmp, 2000))
    else:
        measure(
            lambda tmp: zhoubao_turns("SQLite", f"sqlite+aiosqlite:///{tmp}/z.sqlite3", tmp, 2000)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
