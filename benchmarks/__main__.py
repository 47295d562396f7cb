"""`python -m benchmarks [--quick] [--only NAME] [--out DIR] [--postgres URL]`.

Prints the table, writes results.json and results.md, and exits 1 only if a benchmark raised:
a missed target is reported in the table, never as a failure.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from benchmarks.framework import (
    Benchmark,
    Context,
    Results,
    Row,
    command_line,
    machine_header,
    markdown_header,
    markdown_table,
    write_results,
)
from bot import logs

# Run in this order. A module listed in OPTIONAL runs only if its file exists, so another
# benchmark is added by dropping benchmarks/<name>.py in (and listing it here once).
MODULES: Final = ("turns", "draft", "history")
OPTIONAL: Final = ("fanout", "fanout_trend", "replies", "noisy", "soak", "memory", "kills")
DEFAULT_OUT: Final = Path(__file__).parent / "results"
POSTGRES_ENV: Final = ("ZHOUBAO_BENCH_DATABASE_URL", "ZHOUBAO_TEST_DATABASE_URL")


def available_names() -> list[str]:
    """The benchmarks to run, in order: the listed modules and the optional ones present."""
    return list(MODULES) + [
        name for name in OPTIONAL if importlib.util.find_spec(f"benchmarks.{name}") is not None
    ]


def load(names: Sequence[str]) -> list[Benchmark]:
    """Import the modules and return their BENCHMARKs, in order."""
    found = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        benchmark = module.BENCHMARK
        if not isinstance(benchmark, Benchmark):
            raise TypeError(f"benchmarks.{name}.BENCHMARK is not a Benchmark")
        found.append(benchmark)
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure zhoubao on this machine and print the table of figures.",
    )
    parser.add_argument("--quick", action="store_true", help="small data, one repeat (CI)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"directory for results (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=next((os.environ[n] for n in POSTGRES_ENV if os.environ.get(n)), None),
        help="postgresql+asyncpg URL of a server where a scratch database may be created "
        f"(default: ${POSTGRES_ENV[0]} or ${POSTGRES_ENV[1]}; none: PostgreSQL rows skipped)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    # zhoubao's own log set-up, as the `zhoubao` command has it: what the apps under
    # measurement log shows its structured fields, and no secret.
    with logs.configured():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    names = available_names()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            known = ", ".join(names)
            print(f"unknown benchmark {', '.join(unknown)}; known: {known}", file=sys.stderr)
            return 2
        names = [name for name in names if name in args.only]
    benchmarks = load(names)

    context = Context(quick=args.quick, postgres_url=args.postgres)
    if args.postgres is None:
        context.note(
            "PostgreSQL rows skipped: set ZHOUBAO_BENCH_DATABASE_URL or pass --postgres URL."
        )
    errors: list[str] = []
    try:
        header = machine_header(args.postgres, args.quick, command_line())
    except Exception as error:  # an unreachable server: say so and carry on without it
        traceback.print_exc()
        errors.append(f"header: {type(error).__name__}: {error}")
        header = machine_header(None, args.quick, command_line())
    print(markdown_header(header), flush=True)

    rows: list[Row] = []
    for benchmark in benchmarks:
        print(f"running {benchmark.name} ({header['mode']})…", file=sys.stderr, flush=True)
        run = benchmark.run_quick if args.quick else benchmark.run_full
        try:
            rows.extend(run(context))
        except Exception as error:  # report it, run the others, fail at the end
            traceback.print_exc()
            errors.append(f"{benchmark.name}: {type(error).__name__}: {error}")

    results = Results(header=header, rows=rows, notes=context.notes, errors=errors)
    print()
    print(markdown_table(rows))
    for note in context.notes:
        print(f"- {note}")
    json_path, markdown_path = write_results(results, args.out)
    print(f"\nwritten: {json_path}, {markdown_path}", file=sys.stderr)
    for problem in errors:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
