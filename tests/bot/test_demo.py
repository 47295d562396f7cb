"""`zhoubao demo`: the reference week played through the real engine gives issue 2022-31.

The demo runs once per module (in-process, through `bot.cli.main`) and each test checks one
thing about that run. No timing is asserted: timings belong in benchmarks.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import messages
from bot.cli import main
from tests.report import reference_issue as ref

CHECK_DRAFT = Path(__file__).resolve().parents[3] / "shared" / "tools" / "check-draft"
REFERENCE_ISSUE_LINE = "2022年第31期（总第406期）"


@dataclass(frozen=True, slots=True)
class DemoRun:
    directory: Path
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    directory = tmp_path_factory.mktemp("demo")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo", "--dir", str(directory), "--quiet"])
    return DemoRun(directory, code, out.getvalue(), err.getvalue())


def _draft(demo: DemoRun, suffix: str) -> Path:
    (path,) = (demo.directory / "drafts").glob(f"*{suffix}")
    return path


def test_demo_exits_0_printing_draft_paths_when_run_quietly(demo: DemoRun) -> None:
    docx_path, markdown_path = _draft(demo, ".docx"), _draft(demo, ".md")
    start = messages.DEMO_START.format(path=demo.directory)
    written = messages.DRAFT_WRITTEN.format(docx=docx_path, markdown=markdown_path)
    pdfs = list((demo.directory / "drafts").glob("*.pdf"))
    # The PDF where LibreOffice is installed, else why there is none.
    written += "\n" + (
        messages.DRAFT_PDF.format(pdf=pdfs[0]) if pdfs else messages.DRAFT_NO_PDF["no_office"]
    )
    done = re.escape(messages.DEMO_DONE.split("{")[0]) + r"\d+\.\d" + re.escape(" 秒。")

    assert (demo.code, demo.err) == (0, ""), demo.err
    assert re.fullmatch(rf"{re.escape(start)}\n{re.escape(written)}\n{done}\n", demo.out), demo.out


def test_demo_writes_docx_and_markdown_when_run(demo: DemoRun) -> None:
    docx_path, markdown_path = _draft(demo, ".docx"), _draft(demo, ".md")

    assert docx_path.read_bytes()[:2] == b"PK"  # a zip: the .docx
    assert markdown_path.read_text(encoding="utf-8").startswith(f"# {ref.TITLE}\n")


def test_demo_markdown_carries_issue_line_and_six_numbered_items_when_run(demo: DemoRun) -> None:
    markdown = _draft(demo, ".md").read_text(encoding="utf-8")

    assert REFERENCE_ISSUE_LINE in markdown
    items = [
        *enumerate(ref.EXPECTED_BUSINESS_ENVIRONMENT_ITEMS, start=1),
        *enumerate(ref.EXPECTED_SERVICE_EFFICIENCY_ITEMS, start=1),
    ]
    assert len(items) == 6
    for number, text in items:
        assert f"\n（{number}）{text}\n" in markdown, number


def test_demo_markdown_reads_like_reference_issue_when_run(demo: DemoRun) -> None:
    markdown = _draft(demo, ".md").read_text(encoding="utf-8")

    paragraphs = [block.replace("<b>", "").replace("</b>", "") for block in markdown.split("\n\n")]
    printed = [p.lstrip("#").strip() for p in paragraphs if p.strip() and p.strip() != "---"]
    assert printed == list(ref.EXPECTED_LINES)


@pytest.mark.skipif(not CHECK_DRAFT.exists(), reason=f"{CHECK_DRAFT} is not beside the checkout")
def test_demo_markdown_passes_check_draft_when_run(demo: DemoRun) -> None:
    result = subprocess.run(
        [sys.executable, str(CHECK_DRAFT), str(_draft(demo, ".md"))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout
    assert re.search(r"^(\d+)/\1 reference elements present$", result.stdout, re.MULTILINE)
