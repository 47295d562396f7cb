"""The weekly fan-out for the trend: no round trip at all, and Telegram's clock ×20.

The same run as benchmarks/fanout.py (2,000 windows × 2 prompts through the real Telegram
channel to the loopback Bot API server, which enforces the flood limits with 429s), on SQLite,
without its target: at 0 ms it shows what the dispatcher costs on loopback, at limits ×20 (600
sends a second, a 150 ms round trip) the most it sends a second.
"""

from __future__ import annotations

from typing import Final

from benchmarks.fanout import FULL_WINDOWS, QUICK_WINDOWS, TREND, run_cases
from benchmarks.framework import Benchmark, Context, Row

NAME: Final = "fanout_trend"


def run_quick(context: Context) -> list[Row]:
    return run_cases(context, QUICK_WINDOWS, TREND, targeted=False, postgres=False, name=NAME)


def run_full(context: Context) -> list[Row]:
    return run_cases(context, FULL_WINDOWS, TREND, targeted=False, postgres=False, name=NAME)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
