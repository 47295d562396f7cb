"""User story: the reference issue, entered by chat, prints as the reference (LibreOffice PDF).

The windows, the inspector and the editor play issue 2022-31 through the conversations; the
editor's 生成草稿 sends the .docx and its PDF. The PDF's text, in reading order and ignoring
whitespace, is shared/reference/weekly-bulletin-2022-31.txt line for line (less the
reference's conversion artefacts, bulletin-format.md §6), and its pages look like the
approved ones in tests/e2e/reference_pages (20 dpi, grayscale).

After a deliberate change of layout, look at the new pages and approve them:
    ZHOUBAO_APPROVE_PAGES=1 .venv/bin/pytest tests/e2e/test_reference_issue_pdf.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import App
from bot.typeset import find_office, typesetter
from handlers import messages
from tests.e2e.test_windows_submit_reference_issue import play_reference_issue
from tests.fakes import FrozenClock, RecordingChannel, start_app
from tests.pdf_pages import compact, page_images, poppler_missing, read_gray_png

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
REFERENCE_TEXT = REFERENCE / "weekly-bulletin-2022-31.txt"
APPROVED = Path(__file__).with_name("reference_pages")
DPI = 20
# A page matches when its pixels differ by 3 grey levels on average and fewer than 1.5 % of
# them by more than a quarter of the range: font hinting and antialiasing move a few pixels
# between machines; a moved line or a changed face moves thousands.
MEAN_TOLERANCE = 3.0
CHANGED_PIXEL = 64
CHANGED_SHARE = 0.015

pytestmark = pytest.mark.skipif(
    find_office() is None or poppler_missing() or not REFERENCE_TEXT.exists(),
    reason="needs LibreOffice, poppler-utils and shared/reference beside the checkout",
)


@pytest.fixture
async def app(tmp_path: Path, db_url: str, clock: FrozenClock) -> AsyncIterator[App]:
    """The test app, laying drafts out as PDF as a default configuration does."""
    application = await start_app(tmp_path, db_url, clock)
    settings = replace(application.settings, typeset=typesetter(pdf=True, double_sided=True))
    application.settings = settings
    application.engine._settings = settings
    try:
        yield application
    finally:
        await application.close()


def reference_lines() -> list[str]:
    """The reference's lines without whitespace and without its conversion artefacts.

    Artefacts (bulletin-format.md §6): `- ` bullets and `**` around the criteria labels,
    half-width `(2) ` numbering, and three paragraphs split mid-word by a blank line.
    """
    lines = []
    for raw in REFERENCE_TEXT.read_text(encoding="utf-8").splitlines():
        line = compact(raw).removeprefix("-").replace("**", "")
        if not line:
            continue
        line = re.sub(r"^\(([一二三四五六七八九十\d]+)\)", r"（\1）", line)
        if lines and _split_mid_word(lines[-1]):
            lines[-1] += line
        else:
            lines.append(line)
    return lines


def _split_mid_word(line: str) -> bool:
    # A long paragraph that stops without closing punctuation was cut by the conversion.
    return len(line) > 40 and line[-1] not in "。：；！？”）"


def pdf_lines(pdf: Path) -> list[str]:
    """The PDF's text lines in reading order, without whitespace or page numbers."""
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = (compact(line) for line in text.splitlines())
    return [line for line in lines if line and not re.fullmatch(r"—\d+—", line)]


async def test_reference_issue_prints_as_the_reference_when_laid_out_as_pdf(
    app: App, channel: RecordingChannel, tmp_path: Path
) -> None:
    editor = await play_reference_issue(app, channel)
    await editor.send(messages.LABEL_COMPILE)
    sent = await editor.send("2022-10-21")  # the issue date the reference carries

    documents = [m.document for m in sent if m.document is not None]
    assert [d.filename for d in documents] == [
        "窗口工作周报-2022年第31期.docx",
        "窗口工作周报-2022年第31期.pdf",
    ]
    pdf = tmp_path / "draft.pdf"
    pdf.write_bytes(documents[1].content)

    # Line for line: every line of the reference is made of whole lines of the PDF.
    printed = pdf_lines(pdf)
    position = 0
    for expected in reference_lines():
        found = ""
        while len(found) < len(expected) and position < len(printed):
            found += printed[position]
            position += 1
        assert found == expected
    assert position == len(printed), printed[position:]

    _compare_pages(page_images(pdf, tmp_path / "pages", DPI), tmp_path)


def _compare_pages(pages: list[Path], tmp_path: Path) -> None:
    if os.environ.get("ZHOUBAO_APPROVE_PAGES"):
        shutil.rmtree(APPROVED, ignore_errors=True)
        APPROVED.mkdir()
        for page in pages:
            shutil.copy(page, APPROVED / page.name)
    approved = sorted(APPROVED.glob("page-*.png"))
    assert [p.name for p in pages] == [p.name for p in approved], "the number of pages changed"
    for page, reference in zip(pages, approved, strict=True):
        width, height, pixels = read_gray_png(page)
        expected_width, expected_height, expected = read_gray_png(reference)
        assert (width, height) == (expected_width, expected_height), page.name
        differences = [abs(a - b) for a, b in zip(pixels, expected, strict=True)]
        mean = sum(differences) / len(differences)
        changed = sum(d > CHANGED_PIXEL for d in differences) / len(differences)
        assert mean <= MEAN_TOLERANCE and changed <= CHANGED_SHARE, (
            f"{page.name} differs from the approved page (mean {mean:.2f}, changed "
            f"{changed:.2%}); see {page}; to approve a deliberate change, run with "
            "ZHOUBAO_APPROVE_PAGES=1"
        )
