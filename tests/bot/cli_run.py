"""Running `zhoubao` in-process in a test, and what it answered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str


def zhoubao(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> Run:
    """Run `zhoubao --config CONFIG ARGS…` in-process; return its exit code and output."""
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return Run(code, out, err)
