"""Ten years of data: 520 issues of a hall of 60 windows, on SQLite and PostgreSQL.

Generates the history in a fresh database (a temporary SQLite file; a scratch database
created on the PostgreSQL server and dropped afterwards), migrated with the shipped Alembic
migrations, then times the queries behind `zhoubao status` and the editor's week view.
Target: p95 under 20 ms.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.corpus import item_text, short_name, window_name
from benchmarks.framework import Benchmark, Context, Row, percentile, scratch_postgres
from handlers.services.status_report import status_text
from scheduler.clock import SHANGHAI
from storage.database import create_engine, migrate, session_factory
from storage.models import (
    ChannelState,
    InspectionResult,
    Issue,
    IssueStatus,
    Item,
    ItemRevision,
    ItemStatus,
    Member,
    OutboxMessage,
    OutboxStatus,
    ProcessedUpdate,
    Role,
    StatisticFigure,
    Window,
    WindowReport,
)
from storage.repositories import cursors, issues, outbox, submissions

NAME: Final = "history"
TARGET_P95_MS: Final = 20.0
WINDOWS: Final = 60
FULL_ISSUES: Final = 520  # ten years of weekly issues
QUICK_ISSUES: Final = 52
FULL_RUNS: Final = 200
QUICK_RUNS: Final = 30
WARM_UP_RUNS: Final = 5
SUBSECTIONS: Final = ("business_environment", "service_efficiency")
CATEGORIES: Final = ("permit", "public", "other")
CRITERIA: Final = ("attendance", "workspace", "dress", "badge", "discipline", "prevention")
# Per window and week, what the conversations leave behind: the weekly prompt, a reminder now
# and then, the replies of a submission (title, text, confirm…), and the updates that caused
# them. Nothing prunes the outbox or the update ledger, so ten years keep all of it.
OUTBOX_PER_WINDOW_WEEK: Final = 6
UPDATES_PER_WINDOW_WEEK: Final = 4
FIRST_MONDAY: Final = date(2016, 1, 4)
BATCH: Final = 5000


@dataclass(frozen=True, slots=True)
class Generated:
    issues: int
    items: int
    outbox: int
    latest_issue_id: int


# --- Generation. -----------------------------------------------------------------------------


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def _insert(session: AsyncSession, model: type[Any], rows: list[dict[str, Any]]) -> None:
    for batch in _batches(rows):
        await session.execute(insert(model), batch)


async def generate(sessions: async_sessionmaker[AsyncSession], issue_count: int) -> Generated:
    """Fill an empty, migrated database with `issue_count` weeks of a 60-window hall."""
    rng = random.Random(406)
    windows: list[dict[str, Any]] = [
        {"id": i + 1, "name": window_name(i), "short_name": short_name(i), "position": (i + 1) * 10}
        | {"active": True}
        for i in range(WINDOWS)
    ]
    start = _at(FIRST_MONDAY, 1)
    members = [
        {
            "id": i + 1,
            "channel": "telegram",
            "user_id": str(100000 + i),
            "chat_id": str(100000 + i),
            "display_name": f"{window['short_name']}小王",
            "window_id": window["id"],
            "role": Role.STAFF,
            "bound_at": start,
            "active": True,
        }
        for i, window in enumerate(windows)
    ]
    editor_id = len(members) + 1
    for member_id, role in ((editor_id, Role.EDITOR), (editor_id + 1, Role.INSPECTOR)):
        members.append(
            {
                "id": member_id,
                "channel": "telegram",
                "user_id": str(200000 + member_id),
                "chat_id": str(200000 + member_id),
                "display_name": "编辑老陈" if role == Role.EDITOR else "巡查员小刘",
                "window_id": None,
                "role": role,
                "bound_at": start,
                "active": True,
            }
        )

    issue_rows: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    revisions: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    statistic_rows: list[dict[str, Any]] = []
    inspections: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    number_in_year = 0
    for week in range(issue_count):
        monday = FIRST_MONDAY + timedelta(weeks=week)
        friday = monday + timedelta(days=4)
        number_in_year = (
            1
            if week == 0 or friday.year != (friday - timedelta(weeks=1)).year
            else (number_in_year + 1)
        )
        latest = week == issue_count - 1
        issue_id = week + 1
        issue_rows.append(
            {
                "id": issue_id,
                "year": friday.year,
                "number": number_in_year,
                "total_number": issue_id,
                "period_start": monday,
                "period_end": friday,
                "issue_date": None if latest else friday + timedelta(days=7),
                "status": IssueStatus.OPEN if latest else IssueStatus.CLOSED,
                "opened_at": _at(monday, 1),
                "closed_at": None if latest else _at(friday, 9),
                "deadline_at": _at(friday, 9),
            }
        )
        ordered = rng.random() < 0.2  # the editor reordered this issue's items
        position = 0
        for window in windows:
            count = rng.choice((0, 1, 2))
            author = window["id"]  # the window's staff member has the same id
            for _ in range(count):
                created = _at(monday, rng.randint(1, 9), rng.randint(0, 59)) + timedelta(
                    days=rng.randint(0, 3)
                )
                item_id = len(items) + 1
                position += 1
                items.append(
                    {
                        "id": item_id,
                        "issue_id": issue_id,
                        "window_id": window["id"],
                        "subsection": rng.choice(SUBSECTIONS),
                        "text": item_text(rng),
                        "status": ItemStatus.WITHDRAWN
                        if rng.random() < 0.03
                        else ItemStatus.CONFIRMED,
                        "author_id": author,
                        "position": position if ordered else None,
                        "late": rng.random() < 0.05,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                if rng.random() < 0.05:
                    revisions.append(
                        {
                            "id": len(revisions) + 1,
                            "item_id": item_id,
                            "text": item_text(rng),
                            "subsection": rng.choice(SUBSECTIONS),
                            "edited_by": editor_id,
                            "edited_at": created + timedelta(hours=2),
                        }
                    )
            if count == 0 and rng.random() < 0.75:
                exempt = rng.random() < 0.07
                reports.append(
                    {
                        "issue_id": issue_id,
                        "window_id": window["id"],
                        "no_news": not exempt,
                        "exempt": exempt,
                        "reopened": False,
                        "updated_by": editor_id if exempt else author,
                        "updated_at": _at(monday, 3),
                    }
                )
            for n in range(OUTBOX_PER_WINDOW_WEEK):
                sent_at = _at(monday, 1, n)
                failed = rng.random() < 0.002
                outbox_rows.append(
                    {
                        "channel": "telegram",
                        "chat_id": str(100000 + author - 1),
                        "user_id": str(100000 + author - 1),
                        "payload": {"text": item_text(rng, 60), "choices": []},
                        "document_name": None,
                        "document": None,
                        "status": OutboxStatus.FAILED if failed else OutboxStatus.SENT,
                        "attempts": 5 if failed else 1,
                        "dedupe_key": f"prompt:{issue_id}:{author}" if n == 0 else None,
                        "created_at": sent_at,
                        "next_attempt_at": sent_at,
                        "sent_at": None if failed else sent_at,
                        "last_error": "Forbidden: bot was blocked by the user" if failed else None,
                    }
                )
            for n in range(UPDATES_PER_WINDOW_WEEK):
                updates.append(
                    {
                        "channel": "telegram",
                        "update_id": str(len(updates) + 1),
                        "processed_at": _at(monday, 2, n),
                    }
                )
        for category in CATEGORIES:
            statistic_rows.append(
                {
                    "issue_id": issue_id,
                    "category": category,
                    "accepted": 10_000 * week + rng.randint(0, 9999),
                    "completed": 10_000 * week + rng.randint(0, 9999),
                    "entered_by": editor_id,
                    "entered_at": _at(friday, 8),
                }
            )
        for criterion in CRITERIA:
            inspections.append(
                {
                    "issue_id": issue_id,
                    "criterion": criterion,
                    "verdict": "总体情况良好。",
                    "entered_by": editor_id + 1,
                    "entered_at": _at(friday, 8),
                }
            )
    # The open issue's week is under way: its prompts are still queued.
    for row in outbox_rows[-WINDOWS * OUTBOX_PER_WINDOW_WEEK :: OUTBOX_PER_WINDOW_WEEK]:
        row |= {"status": OutboxStatus.QUEUED, "attempts": 0, "sent_at": None}

    async with sessions() as session, session.begin():
        await _insert(session, Window, windows)
        await _insert(session, Member, members)
        await _insert(session, Issue, issue_rows)
        await _insert(session, Item, items)
        await _insert(session, ItemRevision, revisions)
        await _insert(session, WindowReport, reports)
        await _insert(session, StatisticFigure, statistic_rows)
        await _insert(session, InspectionResult, inspections)
        await _insert(session, OutboxMessage, outbox_rows)
        await _insert(session, ProcessedUpdate, updates)
        await _insert(
            session,
            ChannelState,
            [{"channel": "telegram", "status": "connected", "detail": None, "updated_at": start}],
        )
    return Generated(len(issue_rows), len(items), len(outbox_rows), issue_rows[-1]["id"])


# --- Databases. ------------------------------------------------------------------------------


@asynccontextmanager
async def sqlite_database() -> Any:
    directory = Path(tempfile.mkdtemp(prefix="zhoubao-bench-"))
    path = directory / "zhoubao.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield engine, path
    finally:
        await engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def postgres_database(server_url: str) -> Any:
    """A scratch database on the server of `server_url`: its engine and name."""
    async with scratch_postgres(server_url, "history") as url:
        engine = create_engine(url)
        try:
            yield engine, make_url(url).database
        finally:
            await engine.dispose()


def _file_sizes(*paths: Path) -> int:
    return sum(path.stat().st_size for path in paths if path.exists())


async def sqlite_size_mb(engine: AsyncEngine, path: Path) -> float:
    """Checkpoint the WAL into the file; return the file's size (and any WAL left) in MB."""
    async with engine.connect() as connection:
        await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    wal = path.with_name(path.name + "-wal")
    return await asyncio.to_thread(_file_sizes, path, wal) / 1024**2


async def postgres_prepare(engine: AsyncEngine) -> float:
    """VACUUM ANALYZE as autovacuum would have by now; return the database size in MB."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as connection:
        for table in ("windows", "members", "issues", "items", "item_revisions", "outbox"):
            await connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
        await connection.execute(text("VACUUM ANALYZE"))
        size = await connection.scalar(text("SELECT pg_database_size(current_database())"))
    return int(size or 0) / 1024**2


# --- Timing. ---------------------------------------------------------------------------------


RECENT = timedelta(days=7)  # as `zhoubao status`


async def status_queries(session: AsyncSession, _: int) -> None:
    """What `zhoubao status` asks the database (bot/cli.py cmd_status)."""
    issue = await issues.current_issue(session)
    assert issue is not None
    await status_text(session, issue, SHANGHAI)
    await outbox.recent_counts(session, issue.opened_at - RECENT)
    await outbox.failed_messages(session, limit=10)
    await cursors.states(session)


async def week_view(session: AsyncSession, issue_id: int) -> None:
    """The editor's view of one week: the issue's items in print order."""
    await submissions.issue_items(session, issue_id)


async def outbox_counts(session: AsyncSession, _: int) -> None:
    """The outbox counts of `status`: queued and failed, and sent in the last week."""
    issue = await issues.current_issue(session)
    assert issue is not None
    await outbox.recent_counts(session, issue.opened_at - RECENT)


Query = Callable[[AsyncSession, int], Awaitable[None]]


async def time_query(
    sessions: async_sessionmaker[AsyncSession], query: Query, issue_ids: list[int], runs: int
) -> list[float]:
    """Run `query` in a fresh session each time (as a command or an update does); ms each."""
    times = []
    for run in range(WARM_UP_RUNS + runs):
        start = time.perf_counter()
        async with sessions() as session:
            await query(session, issue_ids[run % len(issue_ids)])
        if run >= WARM_UP_RUNS:
            times.append((time.perf_counter() - start) * 1000)
    return times


def _rows(database: str, query: str, times: list[float]) -> list[Row]:
    p95 = percentile(times, 0.95)
    return [
        Row(NAME, f"{database}: {query}", "p50", percentile(times, 0.5), "ms"),
        Row(
            NAME,
            f"{database}: {query}",
            "p95",
            p95,
            "ms",
            "bound",
            TARGET_P95_MS,
            f"< {TARGET_P95_MS:.0f} ms",
            p95 < TARGET_P95_MS,
        ),
        Row(NAME, f"{database}: {query}", "p99", percentile(times, 0.99), "ms"),
    ]


async def measure(
    database: str,
    engine: AsyncEngine,
    issue_count: int,
    runs: int,
    size: Callable[[], Awaitable[float]],
) -> list[Row]:
    started = time.perf_counter()
    await migrate(engine)
    sessions = session_factory(engine)
    generated = await generate(sessions, issue_count)
    size_mb = await size()
    generation_s = time.perf_counter() - started
    rng = random.Random(7)
    random_issues = [rng.randint(1, generated.issues) for _ in range(runs + WARM_UP_RUNS)]
    status_times = await time_query(sessions, status_queries, [generated.latest_issue_id], runs)
    counts_times = await time_query(sessions, outbox_counts, [0], runs)
    week_times = await time_query(sessions, week_view, random_issues, runs)
    data = f"{generated.issues} issues, {generated.items:,} items, {generated.outbox:,} outbox rows"
    return [
        *_rows(database, "status", status_times),
        Row(
            NAME,
            f"{database}: status, of which the outbox counts",
            "p50",
            percentile(counts_times, 0.5),
            "ms",
            "status p50",
            percentile(status_times, 0.5),
        ),
        *_rows(database, "week view", week_times),
        Row(NAME, f"{database}: {data}", "database size", size_mb, "MB"),
        Row(NAME, f"{database}: {data}", "migrate + generate", generation_s, "s"),
    ]


async def run_async(context: Context, issue_count: int, runs: int) -> list[Row]:
    rows: list[Row] = []
    async with sqlite_database() as (engine, path):
        rows += await measure(
            "SQLite", engine, issue_count, runs, lambda: sqlite_size_mb(engine, path)
        )
    if context.postgres_url is not None:
        async with postgres_database(context.postgres_url) as (engine, _):
            rows += await measure(
                "PostgreSQL", engine, issue_count, runs, lambda: postgres_prepare(engine)
            )
    mode = "quick" if context.quick else "full"
    context.note(
        f"history ({mode}): {issue_count} weekly issues × {WINDOWS} windows, 0–2 items per "
        f"window-week, {OUTBOX_PER_WINDOW_WEEK} outbox rows and {UPDATES_PER_WINDOW_WEEK} "
        f"processed updates per window-week; {runs} timed runs after {WARM_UP_RUNS} warm-up, "
        "each in a fresh session. status = current_issue + status_text + recent outbox counts + "
        "failed_messages + channel states (what `zhoubao status` runs); week view = "
        "issue_items of a random issue."
    )
    return rows


def run_quick(context: Context) -> list[Row]:
    return asyncio.run(run_async(context, QUICK_ISSUES, QUICK_RUNS))


def run_full(context: Context) -> list[Row]:
    return asyncio.run(run_async(context, FULL_ISSUES, FULL_RUNS))


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
