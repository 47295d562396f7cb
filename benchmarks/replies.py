"""Replies during the weekly fan-out: does a person who answers get an answer at once?

The fan-out of benchmarks/fanout.py (2,000 windows × 2 prompts, published limits, a 150 ms
round trip at the loopback Bot API server, which enforces 30 sends a second and one a second
per chat with 429s) drains through the outbox while 500 of the window staff send a message
(帮助), their arrivals spread uniformly over the fan-out's bound (prompts ÷ 30 s). Each is a
real conversation turn through `Engine.handle`, committed with its reply in the outbox.

Measured: for each of the 500, from its turn's commit to the 200 OK of its reply at the server
(the send's round trip included): p50, p99, worst, and replies not delivered before the run
gave up (`CAP_FACTOR` × the bound). Target: p99 ≤ round trip + 300 ms, and the fan-out (the
last prompt's 200 OK) still within 1.10 × its bound, where the bound counts the replies too.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from benchmarks.fanout import (
    TG,
    ServerReport,
    open_bench_app,
    prepare,
    queued_count,
    telegram_server_process,
)
from benchmarks.framework import Benchmark, Context, Row, percentile
from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.outbox import Dispatcher
from bot.ratelimit import TELEGRAM_LIMITS, TELEGRAM_PUBLISHED
from handlers.types import ChatKey, Incoming
from tests.bot.channels.telegram_server import BENCH_ROUND_TRIP

NAME: Final = "replies"
FULL_WINDOWS: Final = 2000
QUICK_WINDOWS: Final = 20
FULL_REPLIERS: Final = 500
QUICK_REPLIERS: Final = 5
REPLY_TEXT: Final = "帮助"
TARGET_OVER_ROUND_TRIP: Final = 0.300  # s: p99 ≤ round trip + this
TARGET_FANOUT: Final = 1.10  # the fan-out within this × its bound
CAP_FACTOR: Final = 8.0  # give up after this × the bound (one send in flight needs ~5.5 ×)
SEED: Final = 11


@dataclass(frozen=True, slots=True)
class RepliesResult:
    backend: str
    prompts: int
    repliers: int
    round_trip: float
    bound_s: float  # (prompts + reply messages) ÷ 30
    fanout_s: float  # first send → the last prompt's 200 OK
    latencies: list[float]  # s, commit → 200 OK of the reply, for each reply delivered
    # For each of those, the least it could have been: the round trip, or later when the chat
    # had received a message less than Telegram's one second before (its pace).
    floors: list[float]
    undelivered: int
    flood_429s: int
    reply_messages: int
    cpu_s: float  # CPU time of this process (engine turns and dispatcher) over the run
    wall_s: float  # the run's wall time, first send → the last delivery
    load: float  # the machine's 1-minute load average at the end

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.5) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99) if self.latencies else float("nan")

    @property
    def paced(self) -> int:
        """Replies whose chat's pace (one a second) held them beyond the round trip."""
        return sum(1 for floor in self.floors if floor > self.round_trip + 0.001)

    @property
    def excess_p99(self) -> float:
        """p99 of what the dispatcher added beyond the least each reply could take."""
        excess = [lat - floor for lat, floor in zip(self.latencies, self.floors, strict=True)]
        return percentile(excess, 0.99) if excess else float("nan")

    @property
    def latency_met(self) -> bool:
        return (
            bool(self.latencies)
            and self.undelivered == 0
            and self.p99 <= self.round_trip + TARGET_OVER_ROUND_TRIP
        )

    @property
    def fanout_met(self) -> bool:
        return self.fanout_s <= TARGET_FANOUT * self.bound_s


Commits = dict[str, tuple[float, str | None]]  # chat → (commit time, its reply's first text)


async def _reply(app: App, chat_id: str, commits: Commits, wake: Callable[[], None]) -> None:
    update = Incoming(
        key=ChatKey(TG, chat_id, chat_id),
        update_id=f"reply-{chat_id}",
        received_at=app.clock(),
        text=REPLY_TEXT,
        display_name=f"staff {chat_id}",
    )
    envelopes = await app.engine.handle(update)
    commits[chat_id] = (time.monotonic(), envelopes[0].message.text if envelopes else None)
    wake()  # as `zhoubao run` does after each update (bot.runner.Service.handle)


async def _arrive(
    app: App,
    schedule: list[tuple[float, str]],
    start: float,
    commits: Commits,
    wake: Callable[[], None],
) -> None:
    """Each person replies at their moment; turns run side by side, as they would."""
    turns = []
    for offset, chat_id in schedule:
        delay = start + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        turns.append(asyncio.create_task(_reply(app, chat_id, commits, wake)))
    await asyncio.gather(*turns)


async def replies_run(
    backend: str, db_url: str, workdir: Path, windows: int, repliers: int, round_trip: float
) -> RepliesResult:
    app = await open_bench_app(db_url, workdir)
    clock = app.clock
    try:
        chat_ids, queued = await prepare(app, windows, clock())
        rng = random.Random(SEED)
        chosen = rng.sample(chat_ids, repliers)
        prompt_bound = queued / TELEGRAM_PUBLISHED.per_second
        schedule = sorted((rng.uniform(0, prompt_bound), chat) for chat in chosen)
        limits = (TELEGRAM_PUBLISHED.per_second, TELEGRAM_PUBLISHED.per_chat_interval)
        server = ServerReport()
        commits: Commits = {}
        async with telegram_server_process(limits, 1.0, server, round_trip) as address:
            channel = TelegramChannel(
                address.token,
                sessions=app.sessions,
                clock=clock,
                base_url=address.base_url,
                base_file_url=address.base_file_url,
            )
            await channel.start()
            try:
                dispatcher = Dispatcher(
                    app.sessions, {TG: channel}, clock, limits={TG: TELEGRAM_LIMITS}
                )
                start = time.monotonic()
                cpu_started = time.process_time()
                arrivals = asyncio.create_task(
                    _arrive(app, schedule, start, commits, dispatcher.wake)
                )
                cap = start + CAP_FACTOR * prompt_bound + 10
                while time.monotonic() < cap:
                    await dispatcher.drain(TG)
                    if arrivals.done() and not await queued_count(app):
                        break
                    await asyncio.sleep(0.02)
                await arrivals
                cpu_s = time.process_time() - cpu_started
                wall_s = time.monotonic() - start
            finally:
                await channel.stop()
    finally:
        await app.close()

    delivered = [send for send in server.sends if send.status == 200]
    # A chat's first delivered message is its prompt unless it is the reply's text.
    reply_texts = {text for _, text in commits.values()}
    prompts = [send for send in delivered if send.text not in reply_texts]
    replies = [send for send in delivered if send.text in reply_texts]
    latencies: list[float] = []
    floors: list[float] = []
    half = round_trip / 2  # the server counts a send half a round trip after it was sent
    for chat_id, (committed, text) in commits.items():
        mine = [s for s in replies if s.chat_id == chat_id and s.text == text]
        if not mine:
            continue
        reply = min(mine, key=lambda s: s.answered_at)
        latencies.append(reply.answered_at - committed)
        before = [
            s.received_at + half
            for s in delivered
            if s.chat_id == chat_id and s.received_at < reply.received_at
        ]
        paced_until = max(before, default=float("-inf")) + TELEGRAM_PUBLISHED.per_chat_interval
        floors.append(max(round_trip, paced_until + half - committed))
    first = min((send.received_at for send in server.sends), default=0.0)
    fanout_s = max((send.answered_at for send in prompts), default=first) - first
    return RepliesResult(
        backend=backend,
        prompts=queued,
        repliers=repliers,
        round_trip=round_trip,
        bound_s=(queued + len(replies)) / TELEGRAM_PUBLISHED.per_second,
        fanout_s=fanout_s,
        latencies=latencies,
        floors=floors,
        undelivered=repliers - len(latencies),
        flood_429s=server.flood_429s,
        reply_messages=len(replies),
        cpu_s=cpu_s,
        wall_s=wall_s,
        load=os.getloadavg()[0],
    )


def rows_of(result: RepliesResult) -> list[Row]:
    case = (
        f"{result.backend}: {result.prompts:,} prompts, {result.repliers} replies during them, "
        f"round trip {result.round_trip * 1000:g} ms"
    )
    rt_ms = result.round_trip * 1000
    target_ms = rt_ms + TARGET_OVER_ROUND_TRIP * 1000
    ms = [value * 1000 for value in result.latencies]
    return [
        Row(NAME, case, "reply: commit → delivered, p50", result.p50 * 1000, "ms",
            "round trip, ms", rt_ms),
        Row(NAME, case, "reply: commit → delivered, p99", result.p99 * 1000, "ms",
            "round trip + 300 ms", target_ms, f"≤ {target_ms:g} ms", result.latency_met),
        Row(NAME, case, "reply: worst", max(ms) if ms else float("nan"), "ms"),
        Row(NAME, case, "replies held by their chat's pace (a message < 1 s before)",
            result.paced, "replies"),
        Row(NAME, case, "reply: beyond the least it could take, p99", result.excess_p99 * 1000,
            "ms"),
        Row(NAME, case, "replies not delivered in the run", result.undelivered, "msgs", None,
            None, "0", result.undelivered == 0),
        Row(NAME, case, "fan-out: time to deliver the prompts", result.fanout_s, "s",
            "bound (prompts + replies) ÷ 30, s", result.bound_s,
            f"≤ {TARGET_FANOUT:g} × bound", result.fanout_met),
        Row(NAME, case, "429 received", result.flood_429s, "count", None, None, "0",
            result.flood_429s == 0),
        Row(NAME, case, "CPU of the process ÷ wall time", result.cpu_s / result.wall_s, "cores"),
        Row(NAME, case, "machine load average (1 min) at the end", result.load, "runnable"),
    ]  # fmt: skip


def note_of(result: RepliesResult) -> str:
    return (
        f"{NAME} ({result.backend}): {result.repliers} replies ({result.reply_messages} messages "
        f"sent) during {result.prompts:,} prompts; commit → delivered p50 {result.p50:.2f} s, "
        f"p99 {result.p99:.2f} s against a round trip of {result.round_trip * 1000:g} ms "
        f"({result.paced} held by their chat's pace of one message a second; beyond the least "
        f"each could take, p99 {result.excess_p99 * 1000:.0f} ms); "
        f"{result.undelivered} not delivered before the run gave up; prompts delivered in "
        f"{result.fanout_s:.1f} s against a bound of {result.bound_s:.1f} s; the process used "
        f"{result.cpu_s:.0f} s of CPU in {result.wall_s:.0f} s (load average {result.load:.1f} "
        f"on {os.cpu_count()} CPUs)."
    )


def run(context: Context, windows: int, repliers: int) -> list[Row]:
    """On SQLite; the fan-out benchmark covers both databases, the dispatcher is the same."""
    with tempfile.TemporaryDirectory(prefix="zb-replies-") as tmp:
        workdir = Path(tmp) / "sqlite"
        url = f"sqlite+aiosqlite:///{workdir / 'zhoubao.sqlite3'}"
        result = asyncio.run(
            replies_run("SQLite", url, workdir, windows, repliers, BENCH_ROUND_TRIP)
        )
    context.note(note_of(result))
    return rows_of(result)


def run_quick(context: Context) -> list[Row]:
    return run(context, QUICK_WINDOWS, QUICK_REPLIERS)


def run_full(context: Context) -> list[Row]:
    return run(context, FULL_WINDOWS, FULL_REPLIERS)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
