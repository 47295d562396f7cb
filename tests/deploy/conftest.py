"""Fixtures for the tests of deploy/: paths and a production configuration to load."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import default_config_text

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY_ROOT / "deploy"
PRODUCTION_EXAMPLE = DEPLOY / "zhoubao.production.toml.example"

# A table header: [storage], [channels.telegram], [[windows]] …
_TABLE_HEADER = re.compile(r"\s*\[\[?\s*([A-Za-z0-9_.\"-]+?)\s*\]\]?\s*(#.*)?$")


def without_tables(text: str, roots: set[str]) -> str:
    """Return the TOML `text` without the tables under `roots` (e.g. storage, channels)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        header = _TABLE_HEADER.match(line)
        if header is not None:
            skipping = header[1].split(".")[0] in roots
        if not skipping:
            kept.append(line)
    return "".join(kept)


def production_text(*, url: str | None = None, data_dir: Path | None = None) -> str:
    """Return the configuration an administrator writes by following the example.

    That is `zhoubao init`'s default with its [storage], [server] and [channels.*] tables
    replaced by those of deploy/zhoubao.production.toml.example; `url` and `data_dir` replace the
    example's values when given.
    """
    example = PRODUCTION_EXAMPLE.read_text(encoding="utf-8")
    if url is not None:
        example, count = re.subn(r'(?m)^url = ".*"$', f'url = "{url}"', example)
        assert count == 1
    if data_dir is not None:
        example, count = re.subn(r'(?m)^data_dir = ".*"$', f'data_dir = "{data_dir}"', example)
        assert count == 1
    roots = {"storage", "server", "channels"}
    return without_tables(default_config_text(), roots) + "\n" + example


@pytest.fixture
def write_production_config(tmp_path: Path) -> Callable[..., Path]:
    """Return a function writing `production_text(...)` to a file under tmp_path."""

    def write(*, url: str | None = None, data_dir: Path | None = None) -> Path:
        path = tmp_path / "etc" / "zhoubao.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(production_text(url=url, data_dir=data_dir), encoding="utf-8")
        return path

    return write
