"""The kill test's long form: 100 SIGKILLs of a real `zhoubao run` during a week of 20 windows.

`python -m benchmarks --only kills`: the scenario of
`tests/channels/kill_week.py` (the loopback Bot API server, the windows and the editor played
in their chats, libfaketime putting each life of the process at a chosen moment of a fixed
week) with 100 kills and 8 items a window, about 14 minutes here; `--quick` runs it with 6
kills and 2 items (about 80 s). CI runs the short
form (10 kills) as a test: `tests/channels/test_run_killed.py`. The seed is printed and noted;
`KILLS_SEED=<seed>` repeats a run's kills. Figures: what the windows saw confirmed against the
draft the editor got, the prompts, reminders and drafts, and the messages sent again (the
outbox sends at least once). Every item confirmed in the draft exactly once is the target.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Final

from benchmarks.framework import Benchmark, Context, Row
from tests.channels.kill_week import Plan, Result, Week

NAME: Final = "kills"
FULL: Final = Plan(kills=100, items_per_window=8)
QUICK: Final = Plan(kills=6, items_per_window=2)


def _run(context: Context, plan: Plan) -> list[Row]:
    seed = os.environ.get("KILLS_SEED")
    if seed is not None:
        plan = Plan(**{**plan.__dict__, "seed": int(seed)})
    with tempfile.TemporaryDirectory(prefix="zb-kills-") as scratch:
        week = Week(plan, Path(scratch), log=lambda line: print(line, file=sys.stderr))
        result = asyncio.run(week.run())
    print(result.summary(), file=sys.stderr)
    context.note(f"kills: seed {result.seed}; kill moments {', '.join(result.kill_moments)}")
    for problem in result.problems:
        context.note(f"kills: PROBLEM {problem}")
    return rows(result)


def rows(result: Result) -> list[Row]:
    case = f"SQLite, {result.windows} windows, {result.kills} SIGKILLs, seed {result.seed}"

    def row(metric: str, value: float, unit: str, target: str | None = None) -> Row:
        met = None if target is None else value == 0
        return Row(NAME, case, metric, value, unit, target=target, met=met)

    return [
        row("kills", result.kills, "kills"),
        row("time", result.seconds, "s"),
        row("items confirmed to windows", result.confirmed_items, "items"),
        row("items in the draft", result.items_in_draft, "items"),
        row("confirmed items missing from the draft", result.items_missing, "items", "0"),
        row("confirmed items twice in the draft", result.items_doubled, "items", "0"),
        row("unconfirmed items in the draft", result.items_unconfirmed_in_draft, "items", "0"),
        row("late items (confirmed as 迟交)", result.late_items, "items"),
        row("windows without a prompt", result.windows - result.windows_prompted, "windows", "0"),
        row("prompts repeated", result.prompts_repeated, "msgs"),
        row(
            "silent windows without a reminder",
            result.silent_windows - result.silent_windows_reminded,
            "windows",
            "0",
        ),
        row("reminders repeated", result.reminders_repeated, "msgs"),
        row("drafts to the editor", result.drafts, "drafts"),
        row("messages queued", result.outbox_rows, "msgs"),
        row("messages delivered", result.deliveries, "msgs"),
        row("messages sent again", result.repeated_deliveries, "msgs"),
        row("messages never sent", result.outbox_not_sent, "msgs", "0"),
        row("problems", len(result.problems), "count", "0"),
    ]


BENCHMARK: Final = Benchmark(
    NAME, lambda context: _run(context, QUICK), lambda context: _run(context, FULL)
)
