"""What a benchmark is, what it returns, and how the results are printed and written.

A benchmark module exposes `BENCHMARK = Benchmark(name, run_quick, run_full)`. Both functions
take a `Context` and return `Row`s; they are synchronous (an async benchmark calls
`asyncio.run` itself). A benchmark raises on an error, never on a missed target: a missed
target is a row with `met=False`.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

PACKAGES: Final = ("sqlalchemy", "aiosqlite", "asyncpg", "python-docx", "python-telegram-bot")


@dataclass(frozen=True, slots=True)
class Row:
    """One figure, next to the peer or bound it is measured against in the same run."""

    benchmark: str
    case: str  # "300 items", "SQLite: status"
    metric: str  # "median", "p95", "size"
    value: float
    unit: str  # "ms", "MB", "×"
    peer: str | None = None  # what the value is compared with: "bare python-docx", "bound"
    peer_value: float | None = None
    target: str | None = None  # "< 1000 ms"; None: shown for the trend only
    met: bool | None = None  # None: no target


@dataclass(slots=True)
class Context:
    """What a run knows: its mode and the PostgreSQL server it may use."""

    quick: bool
    postgres_url: str | None  # an asyncpg URL of a database on the server; None: skip PostgreSQL
    notes: list[str] = field(default_factory=list)  # shown under the table

    def note(self, text: str) -> None:
        self.notes.append(text)


RunFunction = Callable[[Context], Sequence[Row]]


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str  # the module's name; `--only NAME` selects it
    run_quick: RunFunction  # for CI: seconds, one repeat, small data
    run_full: RunFunction  # for docs/performance.md


@dataclass(frozen=True, slots=True)
class Results:
    header: dict[str, Any]
    rows: list[Row]
    notes: list[str]
    errors: list[str]  # "name: Exception text"; non-empty makes the command fail


# --- The machine and the versions. -----------------------------------------------------------


def machine_header(postgres_url: str | None, quick: bool, command: str) -> dict[str, Any]:
    """Return the date, machine, and versions a run happened on."""
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "mode": "quick" if quick else "full",
        "machine": {
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu_model": _cpu_model(),
            "memory_gib": _memory_gib(),
            "os": platform.platform(),
        },
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(postgres_url) if postgres_url else None,
        "packages": {name: _package_version(name) for name in PACKAGES},
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _postgres_version(url: str) -> str:
    from sqlalchemy import text

    from storage.database import create_engine

    async def query() -> str:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return str(await connection.scalar(text("SHOW server_version")))
        finally:
            await engine.dispose()

    return asyncio.run(query())


# --- Output. ---------------------------------------------------------------------------------


def format_value(value: float | None) -> str:
    """Three significant figures, without exponent for the sizes we print."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def markdown_table(rows: Sequence[Row]) -> str:
    """Return the rows as a GitHub Markdown table."""
    lines = [
        "| benchmark | case | metric | value | unit | against | its value | target | met |",
        "|---|---|---|--:|---|---|--:|---|---|",
    ]
    for row in rows:
        cells = (
            row.benchmark,
            row.case,
            row.metric,
            format_value(row.value),
            row.unit,
            row.peer or "",
            format_value(row.peer_value),
            row.target or "",
            _met(row.met),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_header(header: dict[str, Any]) -> str:
    """Return the run's date, machine and versions as Markdown lines."""
    machine = header["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in header["packages"].items())
    return "\n".join(
        [
            f"- Date: {header['date']} ({header['mode']} mode)",
            f"- Command: `{header['command']}`",
            f"- Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), "
            f"{machine['memory_gib']} GiB memory, {machine['os']}",
            f"- Python {header['python']}, SQLite {header['sqlite']}, "
            f"PostgreSQL {header['postgresql'] or 'not used'}",
            f"- Packages: {packages}",
        ]
    )


def markdown_report(results: Results) -> str:
    parts = [markdown_header(results.header), "", markdown_table(results.rows)]
    if results.notes:
        parts += ["", *(f"- {note}" for note in results.notes)]
    if results.errors:
        parts += ["", "Errors:", *(f"- {error}" for error in results.errors)]
    return "\n".join(parts) + "\n"


def write_results(results: Results, out_dir: Path) -> tuple[Path, Path]:
    """Write results.json and results.md into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    markdown_path = out_dir / "results.md"
    data = {
        "header": results.header,
        "rows": [asdict(row) for row in results.rows],
        "notes": results.notes,
        "errors": results.errors,
    }
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    markdown_path.write_text(markdown_report(results), encoding="utf-8")
    return json_path, markdown_path


def command_line() -> str:
    return " ".join(["python -m benchmarks", *sys.argv[1:]])


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the `fraction` quantile (0–1) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@asynccontextmanager
async def scratch_postgres(server_url: str, prefix: str) -> AsyncIterator[str]:
    """Create a database beside the one in `server_url`; yield its URL; drop it afterwards."""
    name = f"zb_bench_{prefix}_{secrets.token_hex(4)}"
    admin = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
