"""The dispatcher's pick at ten years of history: its query plan and its time, both databases.

    python -m benchmarks.queue_plan [POSTGRES_URL]

Generates `benchmarks.history`'s ten years (520 issues of a 60-window hall, 187,200 outbox
rows, all sent), then queues a Monday's fan-out on top (2,000 chats × 2 prompts) and one noisy
chat with 5,000 messages, and prints, for SQLite and PostgreSQL (when a URL is given or
`ZHOUBAO_TEST_DATABASE_URL` is set): EXPLAIN of `outbox.next_heads` (the head of each chat's
queue, replies' chats first), and the median and p95 of that pick (limit 40) over 50 runs
each in a fresh session; also of `outbox.has_claims` (each drain's look for left-over claims).
Not part of `python -m benchmarks`: a check of the plan, run by hand.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import TextClause

from benchmarks.history import (
    FULL_ISSUES,
    generate,
    postgres_database,
    postgres_prepare,
    sqlite_database,
)
from scheduler.clock import SHANGHAI
from storage.database import migrate, session_factory
from storage.models import Lane, OutboxMessage
from storage.repositories import outbox

NOW = datetime(2026, 11, 30, 9, tzinfo=SHANGHAI)
CHATS = 2000
NOISY = 5000
RUNS = 50


def _queued(chat: str, text_: str, lane: Lane, at: datetime) -> dict[str, Any]:
    return outbox.queued_row(
        channel="telegram",
        chat_id=chat,
        user_id=chat,
        payload={"text": text_},
        now=at,
        lane=lane,
    )


async def queue_fanout(sessions: async_sessionmaker[AsyncSession]) -> int:
    rows = [_queued("noisy", f"N{n}", Lane.BULK, NOW) for n in range(NOISY)]
    rows += [
        _queued(f"{700000 + c}", f"P{c}-{k}", Lane.BULK, NOW) for k in (1, 2) for c in range(CHATS)
    ]
    rows += [_queued(f"{700000 + c}", f"R{c}", Lane.REPLY, NOW) for c in range(0, CHATS, 40)]
    async with sessions() as session, session.begin():
        for start in range(0, len(rows), 5000):
            await outbox.enqueue_many(session, rows[start : start + 5000])
    return len(rows)


def heads_statement(dialect_name: str, prefix: str) -> TextClause:
    """`prefix` + the SQL `outbox.next_heads` runs on the dialect, its constants bound.

    Compiled from `outbox.HEADS` itself (so the plan checked is the plan run), with named
    parameters; :channel, :now and :limit are left for the caller to bind.
    """
    dialect = {"sqlite": sqlite.dialect, "postgresql": psycopg2.dialect}[dialect_name]
    compiled = outbox.HEADS.compile(dialect=dialect(paramstyle="named"))
    constants = {k: v for k, v in compiled.params.items() if k not in ("channel", "now", "limit")}
    return text(prefix + str(compiled)).bindparams(**constants)


async def explain(engine: AsyncEngine, analyze: bool = True) -> str:
    """EXPLAIN (PostgreSQL: EXPLAIN ANALYZE) of the statement `outbox.next_heads` runs."""
    if engine.dialect.name == "sqlite":
        prefix = "EXPLAIN QUERY PLAN "
    else:
        prefix = "EXPLAIN ANALYZE " if analyze else "EXPLAIN "
    statement = heads_statement(engine.dialect.name, prefix).bindparams(
        bindparam("now", NOW + timedelta(seconds=1), type_=OutboxMessage.next_attempt_at.type),
        channel="telegram",
        limit=40,
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return "\n".join(" | ".join(str(col) for col in row) for row in rows)


async def timings(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[float, float]]:
    async def pick() -> None:
        async with sessions() as session:
            heads = await outbox.next_heads(session, "telegram", NOW + timedelta(seconds=1), 40)
            assert len(heads) == 40

    async def claims() -> None:
        async with sessions() as session:
            await outbox.has_claims(session, "telegram")

    found: dict[str, tuple[float, float]] = {}
    for name, run in (("next_heads(limit 40)", pick), ("has_claims", claims)):
        for _ in range(5):
            await run()
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            await run()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        found[name] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return found


async def one(database: str, engine: AsyncEngine, postgres: bool) -> None:
    await migrate(engine)
    sessions = session_factory(engine)
    generated = await generate(sessions, FULL_ISSUES)
    queued = await queue_fanout(sessions)
    if postgres:
        await postgres_prepare(engine)
    print(f"## {database}: {generated.outbox:,} sent rows of ten years, {queued:,} queued")
    print(await explain(engine))
    for name, (p50, p95) in (await timings(sessions)).items():
        print(f"{name}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")


async def main(postgres_url: str | None) -> None:
    async with sqlite_database() as (engine, _path):
        await one("SQLite", engine, postgres=False)
    if postgres_url:
        async with postgres_database(postgres_url) as (engine, _name):
            await one("PostgreSQL", engine, postgres=True)


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ZHOUBAO_TEST_DATABASE_URL")
    asyncio.run(main(url))
