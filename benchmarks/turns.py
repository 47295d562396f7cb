"""Conversation turns: zhoubao's intake through the engine, beside python-telegram-bot's own.

2,000 window staff (1,000 windows × 2, on Telegram) each go through intake: 提交动态 from the
menu (the entry turn, not measured), then the three measured turns: choose a subsection ("1"),
send the text (the peer's ~80 characters), confirm ("1"). At most CONCURRENCY turns are in
flight, step by step over all chats, as in the peer (`benchmarks.ptb_turns`). Every turn is
durable when `Engine.handle` returns: ledger, state, item and outbox rows committed, on SQLite
(WAL, synchronous=FULL: fsync on every commit) and on PostgreSQL. The engine commits the
turns that arrive together in one transaction (group commit, at most `MAX_BATCH`).

The peer, in the same process and run: python-telegram-bot's ConversationHandler with
PicklePersistence doing the same three steps through `Application.process_update`, once with
its network stubbed in-process (the bound the target is set against) and once answered by the
loopback Bot API server. Its state reaches the disk only when PicklePersistence flushes (every
60 s, and at shutdown): a crash loses the turns since. Both report the worst turn and the
longest event-loop block (a 1 ms ticker).

Target: zhoubao on SQLite at least as many turns a second as the peer stubbed; on PostgreSQL
at least half of that.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event, func, select

from benchmarks.fanout import MEMBERS_PER_WINDOW, open_bench_app, prepare
from benchmarks.framework import Benchmark, Context, Row, scratch_postgres
from benchmarks.ptb_turns import (
    STEP_TEXTS,
    LoopTicker,
    TurnStats,
    ptb_turns,
    ptb_turns_over_loopback,
)
from bot.app import App, settle_after_start
from bot.engine import MAX_BATCH
from handlers.types import ChannelKind, ChatKey, Incoming
from storage.models import ConversationState, Item, OutboxMessage

NAME: Final = "turns"
FULL_CHATS: Final = 2000
QUICK_CHATS: Final = 200
CONCURRENCY: Final = 256
POSTGRES_SHARE: Final = 0.5  # of the peer's stubbed turns a second
# Typed on a text channel: 提交动态 (menu 1), then the first subsection, the text, 确认提交.
ENTRY: Final = "1"
MEASURED_STEPS: Final = ("1", STEP_TEXTS[1], "1")


@dataclass(frozen=True)
class EngineRun:
    backend: str
    chats: int
    stats: TurnStats
    commits: int  # transactions committed during the measured turns


@contextmanager
def counted_commits(app: App) -> Iterator[list[int]]:
    commits: list[int] = []

    def on_commit(connection: Any) -> None:
        commits.append(1)

    event.listen(app.database.sync_engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(app.database.sync_engine, "commit", on_commit)


async def zhoubao_turns(backend: str, db_url: str, workdir: Path, chats: int) -> EngineRun:
    """Run the entry turn, then the three measured intake turns, for `chats` chats."""
    app = await open_bench_app(db_url, workdir)
    clock = app.clock
    try:
        chat_ids, _ = await prepare(app, chats // MEMBERS_PER_WINDOW, clock())
        settle_after_start()  # as `zhoubao run` does once it has started
        keys = [ChatKey(ChannelKind.TELEGRAM, chat_id, chat_id) for chat_id in chat_ids]
        queued_before = await _outbox_rows(app)
        semaphore = asyncio.Semaphore(CONCURRENCY)
        latencies: list[float] = []

        async def turn(update: Incoming, measured: bool) -> None:
            async with semaphore:
                handed = time.perf_counter()
                await app.engine.handle(update)
                if measured:
                    latencies.append((time.perf_counter() - handed) * 1000)

        async def run_step(text: str, step: int, measured: bool) -> None:
            updates = [Incoming(k, f"{step}-{k.chat_id}", clock(), text) for k in keys]
            await asyncio.gather(*(turn(update, measured) for update in updates))

        await run_step(ENTRY, 0, measured=False)
        ticker = LoopTicker()
        with counted_commits(app) as commits:
            ticker.start()
            started = time.perf_counter()
            for step, text in enumerate(MEASURED_STEPS, start=1):
                await run_step(text, step, measured=True)
            seconds = time.perf_counter() - started
            worst_block_ms = await ticker.stop()
        await _check(app, chat_ids, queued_before)
    finally:
        await app.close()
    stats = TurnStats(len(latencies), seconds, latencies, worst_block_ms)
    return EngineRun(backend, len(chat_ids), stats, len(commits))


async def _outbox_rows(app: App) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def _check(app: App, chat_ids: list[str], queued_before: int) -> None:
    """RuntimeError unless every chat stored its one item, is at the next step, got 3 replies."""
    async with app.sessions() as session:
        items = (await session.execute(select(Item.author_id, Item.text))).all()
        rows = await session.execute(
            select(ConversationState.state, func.count()).group_by(ConversationState.state)
        )
        states = {state: count for state, count in rows.all()}
    queued = await _outbox_rows(app) - queued_before
    expected_queued = (1 + len(MEASURED_STEPS)) * len(chat_ids)
    if len(items) != len(chat_ids) or {text for _, text in items} != {STEP_TEXTS[1]}:
        raise RuntimeError(f"{len(items)} items stored for {len(chat_ids)} chats")
    if len({author for author, _ in items}) != len(chat_ids):
        raise RuntimeError("some chat stored two items, another none")
    if states != {"intake.more": len(chat_ids)}:
        raise RuntimeError(f"conversation states after the run: {states}")
    if queued != expected_queued:
        raise RuntimeError(f"{queued} replies queued, expected {expected_queued}")


async def zhoubao_on_postgres(server_url: str, workdir: Path, chats: int) -> EngineRun:
    async with scratch_postgres(server_url, "turns") as url:
        return await zhoubao_turns("PostgreSQL", url, workdir, chats)


async def _peer(chats: int, workdir: Path, loopback: bool) -> TurnStats:
    if loopback:
        return await ptb_turns_over_loopback(chats, workdir / "loopback.pickle")
    return await ptb_turns(chats, base_url=None, persistence_file=workdir / "stubbed.pickle")


# --- Rows. -------------------------------------------------------------------------------------


def engine_rows(run: EngineRun, peer: TurnStats) -> list[Row]:
    stats = run.stats
    share = 1.0 if run.backend == "SQLite" else POSTGRES_SHARE
    bound = peer.turns_per_second * share
    target = f"≥ {share:g} × peer stubbed" if share != 1.0 else "≥ peer stubbed"
    case = f"zhoubao, {run.backend}, {run.chats:,} chats, every turn committed"
    return [
        Row(NAME, case, "turns/s", stats.turns_per_second, "turns/s",
            "python-telegram-bot stubbed, turns/s", peer.turns_per_second, target,
            stats.turns_per_second >= bound),
        Row(NAME, case, "p50", stats.p50_ms, "ms", "peer stubbed p50, ms", peer.p50_ms),
        Row(NAME, case, "p99", stats.p99_ms, "ms", "peer stubbed p99, ms", peer.p99_ms),
        Row(NAME, case, "worst turn", stats.worst_ms, "ms", "peer stubbed worst, ms",
            peer.worst_ms),
        Row(NAME, case, "worst event-loop block", stats.worst_loop_block_ms, "ms",
            "peer stubbed, ms", peer.worst_loop_block_ms),
        Row(NAME, case, "turns per commit", stats.turns / max(run.commits, 1), "turns",
            "most per commit", float(MAX_BATCH)),
    ]  # fmt: skip


def peer_rows(label: str, chats: int, stats: TurnStats) -> list[Row]:
    case = f"python-telegram-bot, {label}, {chats:,} chats, PicklePersistence"
    rows = [
        Row(NAME, case, "turns/s", stats.turns_per_second, "turns/s"),
        Row(NAME, case, "p50", stats.p50_ms, "ms"),
        Row(NAME, case, "p99", stats.p99_ms, "ms"),
        Row(NAME, case, "worst turn", stats.worst_ms, "ms"),
        Row(NAME, case, "worst event-loop block", stats.worst_loop_block_ms, "ms"),
    ]
    if stats.final_flush_ms is not None:
        rows.append(Row(NAME, case, "final flush (shutdown)", stats.final_flush_ms, "ms"))
    return rows


def run(context: Context, chats: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="zb-turns-") as tmp:
        workdir = Path(tmp)
        stubbed = asyncio.run(_peer(chats, workdir, loopback=False))
        loopback = asyncio.run(_peer(chats, workdir, loopback=True))
        sqlite_dir = workdir / "sqlite"
        sqlite_dir.mkdir()
        url = f"sqlite+aiosqlite:///{sqlite_dir / 'zhoubao.sqlite3'}"
        runs = [asyncio.run(zhoubao_turns("SQLite", url, sqlite_dir, chats))]
        if context.postgres_url is not None:
            pg_dir = workdir / "postgres"
            pg_dir.mkdir()
            runs.append(asyncio.run(zhoubao_on_postgres(context.postgres_url, pg_dir, chats)))
    for engine_run in runs:
        context.note(
            f"turns ({engine_run.backend}): {engine_run.stats.turns:,} turns in "
            f"{engine_run.stats.seconds:.2f} s, {engine_run.commits} commits "
            f"({engine_run.stats.turns / max(engine_run.commits, 1):.1f} turns each); "
            f"python-telegram-bot stubbed {stubbed.turns_per_second:,.0f} turns/s, "
            f"over loopback {loopback.turns_per_second:,.0f} turns/s, its state flushed only "
            f"at shutdown ({loopback.final_flush_ms or 0:,.0f} ms with the loop blocked)."
        )
    rows = [row for engine_run in runs for row in engine_rows(engine_run, stubbed)]
    return (
        rows
        + peer_rows("network stubbed", chats, stubbed)
        + peer_rows("loopback Bot API server", chats, loopback)
    )


def run_quick(context: Context) -> list[Row]:
    return run(context, QUICK_CHATS)


def run_full(context: Context) -> list[Row]:
    return run(context, FULL_CHATS)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
