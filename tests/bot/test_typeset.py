"""The draft laid out by LibreOffice: the 版记 at the foot of the last page, fonts that hold.

Checked on the PDF (pdftotext -bbox, pdftohtml, pdffonts), not on the XML: what matters is
what LibreOffice makes of it. Conversions are slow, so the module lays out a few drafts once.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot.typeset import LibreOffice, Typesetter, find_office, fontconfig_file, page_count
from handlers.services.issue_draft import NoPdf
from report.bulletin import Draft, ItemEntry
from report.compile import compile_draft
from report.render_docx import render_docx
from tests.pdf_pages import Page, compact, line_fonts, pages, pdffonts_names, poppler_missing
from tests.report.reference_issue import reference

OFFICE = find_office()
pytestmark = pytest.mark.skipif(
    OFFICE is None or poppler_missing(), reason="LibreOffice or poppler-utils is not installed"
)

FILLER = "窗口开展业务培训。"  # one line
LINE_PITCH = 28.95  # points
TEXT_BOTTOM = 841.89 - 35 / 25.4 * 72  # A4 height less the 35 mm bottom margin, in points


def _draft(items: tuple[ItemEntry, ...] | None = None) -> Draft:
    template, issue = reference()
    return compile_draft(template, issue if items is None else replace(issue, items=items))


def _docx(draft: Draft) -> bytes:
    stream = io.BytesIO()
    render_docx(draft, stream)
    return stream.getvalue()


def _short(fillers: int) -> Draft:
    """A one-line item, then `fillers` more: the body ends early on a page."""
    items = tuple(ItemEntry("service_efficiency", "住建厅", FILLER) for _ in range(1 + fillers))
    return _draft(items)


@dataclass(frozen=True, slots=True)
class LaidOut:
    draft: Draft
    pdf: Path
    pages: list[Page]


@pytest.fixture(scope="module")
def laid_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LaidOut]:
    """The reference issue (double-sided), a body ending early, one filling its last page."""
    assert OFFICE is not None
    office = LibreOffice(OFFICE)
    out = tmp_path_factory.mktemp("typeset")

    async def lay_out() -> dict[str, LaidOut]:
        found: dict[str, LaidOut] = {}

        def keep(name: str, draft: Draft, pdf: bytes) -> LaidOut:
            path = out / f"{name}.pdf"
            path.write_bytes(pdf)
            found[name] = LaidOut(draft, path, pages(path))
            return found[name]

        reference_draft = _draft()
        typeset = await Typesetter(office, double_sided=True)(reference_draft)
        assert typeset.pdf is not None
        keep("reference", reference_draft, typeset.pdf)
        early = keep("early", _short(0), await office.to_pdf(_docx(_short(0))))
        # As many one-line items as there are free lines below the body: it then ends on
        # its page's last line and leaves no room for the 版记.
        last_body_line = next(
            line for line in early.pages[-1].lines if line.text.startswith("（六）")
        )
        free = round((TEXT_BOTTOM - last_body_line.bottom) / LINE_PITCH)
        full = _short(free)
        keep("full", full, await office.to_pdf(_docx(full)))
        typeset = await Typesetter(office, double_sided=True)(full)
        assert typeset.pdf is not None
        keep("full-double-sided", full, typeset.pdf)
        return found

    return asyncio.run(lay_out())


def _headings(draft: Draft) -> set[str]:
    subsections = {f"（{s.numeral}）{s.title}" for s in draft.subsections}
    sections = {draft.statistics_heading, draft.news_heading, draft.inspection_heading}
    return {compact(heading) for heading in sections | subsections}


def _record_lines(draft: Draft) -> set[str]:
    return {compact(line) for line in (*draft.distribution, draft.print_count)}


@pytest.mark.parametrize("name", ["reference", "early", "full", "full-double-sided"])
def test_print_count_is_in_the_bottom_fifth_of_the_last_page_when_laid_out(
    laid_out: dict[str, LaidOut], name: str
) -> None:
    last = laid_out[name].pages[-1]
    (count,) = [line for line in last.lines if line.text.startswith("（共印")]
    assert count.bottom > 0.8 * last.height
    assert last.lines[-1] == count
    assert not any(
        line.text.startswith("（共印") for page in laid_out[name].pages[:-1] for line in page.lines
    )


@pytest.mark.parametrize("name", ["reference", "early", "full", "full-double-sided"])
def test_no_page_ends_with_a_heading_when_laid_out(laid_out: dict[str, LaidOut], name: str) -> None:
    headings = _headings(laid_out[name].draft)
    record = _record_lines(laid_out[name].draft)
    for number, page in enumerate(laid_out[name].pages, start=1):
        body = [line.text for line in page.lines if line.text not in record]
        assert not body or body[-1] not in headings, f"page {number} ends with {body[-1]}"


def test_body_ending_early_keeps_the_record_on_its_page_when_laid_out(
    laid_out: dict[str, LaidOut],
) -> None:
    early = laid_out["early"].pages
    (last,) = [page for page in early if any(line.text.startswith("（六）") for line in page.lines)]
    assert last is early[-1]


def test_body_filling_its_page_moves_its_last_line_to_the_record_when_laid_out(
    laid_out: dict[str, LaidOut],
) -> None:
    # Not the 版记 alone on a page: the last line of the body goes with it.
    full = laid_out["full"].pages
    assert full[-1].lines[0].text.startswith("（六）大厅防控情况。")
    assert full[-2].lines[-1].text.startswith("（五）纪律秩序。")
    assert len(full) == len(laid_out["early"].pages) + 1


def test_record_is_on_an_even_page_when_printed_double_sided(
    laid_out: dict[str, LaidOut],
) -> None:
    single, double = laid_out["full"].pages, laid_out["full-double-sided"].pages
    assert len(double) % 2 == 0 and len(laid_out["reference"].pages) % 2 == 0
    # The body filled an even page, so a blank page comes before the 版记's: the body itself
    # is laid out as single-sided, the 版记 alone at the foot of the next even page.
    body_pages = len(single) - 1
    assert [page.text() for page in double[: body_pages - 1]] == [
        page.text() for page in single[: body_pages - 1]
    ]
    assert {line.text for line in double[-1].lines} == _record_lines(laid_out["full"].draft)


def test_page_count_reads_the_pdf_when_libreoffice_wrote_it(laid_out: dict[str, LaidOut]) -> None:
    for item in laid_out.values():
        assert page_count(item.pdf.read_bytes()) == len(item.pages)


def test_body_headings_and_subheadings_print_in_three_faces_when_laid_out(
    laid_out: dict[str, LaidOut],
) -> None:
    pdf = laid_out["reference"].pdf
    fonts = line_fonts(pdf)
    body = fonts[next(text for text in fonts if text.startswith("据四川一体化政务服务平台"))]
    heading = fonts[compact("一、省级政务服务事项受理办理情况")]
    subheading = fonts[compact("（一）优化营商环境工作开展情况")]
    assert len({body, heading, subheading}) == 3, (body, heading, subheading)
    listed = pdffonts_names(pdf)
    assert all(
        any(name.startswith(face) for name in listed) for face in (body, heading, subheading)
    )
    # Same family as the 公文 faces: a serif body, a sans 黑体, a 楷 for （一）.
    assert "Serif" in body and "Sans" in heading and "Kai" in subheading


def test_fontconfig_keeps_the_system_configuration_when_written() -> None:
    text = fontconfig_file()
    assert '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>' in text
    for name in ("仿宋_GB2312", "楷体_GB2312", "黑体", "方正小标宋简体"):
        assert f"<family>{name}</family>" in text or f"<string>{name}</string>" in text


async def test_draft_comes_without_pdf_and_says_why_when_libreoffice_is_missing() -> None:
    typeset = await Typesetter(None)(_draft())
    assert (typeset.docx[:2], typeset.pdf, typeset.no_pdf) == (b"PK", None, NoPdf.NO_OFFICE)
