"""The benchmarks' quick mode runs to the end: CI catches their errors, never their timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_mode_writes_rows_of_every_benchmark_when_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a safety net only; the quick mode takes under a minute
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["errors"] == []
    benchmarks = {row["benchmark"] for row in results["rows"]}
    assert {"turns", "draft", "history", "fanout", "fanout_trend", "replies", "noisy"} <= benchmarks
    assert (out / "results.md").read_text(encoding="utf-8").startswith("- Date: ")
