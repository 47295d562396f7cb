"""The .docx rendering (bulletin-format.md §4), asserted on the XML python-docx reads back."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import docx
import pytest
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml.ns import qn
from docx.oxml.table import CT_Tbl
from docx.oxml.text.parfmt import CT_PPr
from docx.shared import Length, Mm, Pt
from docx.text.paragraph import Paragraph
from docx.text.parfmt import ParagraphFormat
from docx.text.run import Run

from report.bulletin import Draft, ItemEntry
from report.compile import compile_draft
from report.render_docx import render_docx
from tests.report.reference_issue import (
    EXPECTED_BUSINESS_ENVIRONMENT_ITEMS,
    EXPECTED_SERVICE_EFFICIENCY_ITEMS,
    reference,
    reference_issue,
    reference_template,
)


def _docx_bytes(draft: Draft) -> bytes:
    stream = io.BytesIO()
    render_docx(draft, stream)
    return stream.getvalue()


@pytest.fixture(scope="module")
def reference_docx() -> bytes:
    return _docx_bytes(compile_draft(*reference()))


@pytest.fixture
def document(reference_docx: bytes) -> DocxDocument:
    return docx.Document(io.BytesIO(reference_docx))


def _mm(length: Length | None) -> float:
    assert length is not None
    return float(round(length.mm, 1))


def _paragraph(document: DocxDocument, text: str) -> Paragraph:
    return next(p for p in document.paragraphs if p.text == text)


def _east_asian_font(run: Run) -> str | None:
    properties = run._element.rPr
    fonts = None if properties is None else properties.rFonts
    return None if fonts is None else fonts.get(qn("w:eastAsia"))


def _fonts(paragraph: Paragraph) -> set[str | None]:
    return {_east_asian_font(run) for run in paragraph.runs}


def _style_format(paragraph: Paragraph) -> ParagraphFormat:
    assert paragraph.style is not None
    paragraph_format: ParagraphFormat = paragraph.style.paragraph_format
    return paragraph_format


def _properties(paragraph: Paragraph) -> CT_PPr:
    properties = paragraph._p.pPr
    assert properties is not None
    return properties


def test_page_is_a4_with_gbt_margins_when_rendered(document: DocxDocument) -> None:
    section = document.sections[0]
    lengths = (
        section.page_width,
        section.page_height,
        section.top_margin,
        section.bottom_margin,
        section.left_margin,
        section.right_margin,
    )
    # .docx stores twips, so millimetres come back rounded to 1/1440 inch.
    assert [_mm(length) for length in lengths] == [210, 297, 37, 35, 28, 26]


def test_document_grid_has_22_lines_and_no_character_grid_when_rendered(
    document: DocxDocument,
) -> None:
    # No character grid: LibreOffice spreads text over twice the width with charSpace -848.
    grid = document.sections[0]._sectPr.find(qn("w:docGrid"))
    assert (grid.get(qn("w:type")), grid.get(qn("w:linePitch")), grid.get(qn("w:charSpace"))) == (
        "lines",
        "579",
        None,
    )


def test_normal_style_is_sanfang_16pt_exact_28_95pt_when_rendered(document: DocxDocument) -> None:
    normal = document.styles["Normal"]
    fonts = normal.element.rPr.rFonts
    paragraph_format = normal.paragraph_format
    assert (
        fonts.get(qn("w:eastAsia")),
        fonts.get(qn("w:ascii")),
        normal.font.size,
        paragraph_format.line_spacing,
        paragraph_format.space_before,
        paragraph_format.space_after,
    ) == ("仿宋_GB2312", "仿宋_GB2312", Pt(16), Pt(28.95), Pt(0), Pt(0))


def test_doc_defaults_use_fangsong_without_theme_fonts_when_rendered(
    document: DocxDocument,
) -> None:
    run_defaults = document.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    properties = run_defaults.find(qn("w:rPr"))
    fonts = properties.find(qn("w:rFonts"))
    assert (
        fonts.get(qn("w:eastAsia")),
        fonts.get(qn("w:eastAsiaTheme")),
        properties.find(qn("w:sz")).get(qn("w:val")),
        properties.find(qn("w:lang")).get(qn("w:eastAsia")),
    ) == ("仿宋_GB2312", None, "32", "zh-CN")


def test_every_body_run_has_an_east_asian_font_when_rendered(document: DocxDocument) -> None:
    runs = [run for paragraph in document.paragraphs for run in paragraph.runs]
    assert [run.text for run in runs if _east_asian_font(run) is None] == []


def test_masthead_is_red_36pt_xiaobiaosong_centered_when_rendered(document: DocxDocument) -> None:
    masthead = document.paragraphs[0]
    run = masthead.runs[0]
    assert (
        masthead.text,
        _fonts(masthead),
        run.font.size,
        str(run.font.color.rgb),
        _style_format(masthead).alignment,
    ) == ("窗口工作周报", {"方正小标宋简体"}, Pt(36), "FF0000", WD_ALIGN_PARAGRAPH.CENTER)


def test_organisation_line_has_a_right_tab_and_a_red_bottom_rule_when_rendered(
    document: DocxDocument,
) -> None:
    line = _paragraph(document, "四川省政府政务服务和公共资源交易服务中心\t2022年10月21日")
    bottom = _properties(line).find(qn("w:pBdr")).find(qn("w:bottom"))
    tab = line.paragraph_format.tab_stops[0]
    assert (
        bottom.get(qn("w:val")),
        bottom.get(qn("w:color")),
        bottom.get(qn("w:sz")),
        _mm(tab.position),
        tab.alignment,
    ) == ("single", "FF0000", "18", 156, WD_TAB_ALIGNMENT.RIGHT)


def test_organisation_line_is_sihao_so_it_fits_one_line_when_rendered(
    document: DocxDocument,
) -> None:
    line = _paragraph(document, "四川省政府政务服务和公共资源交易服务中心\t2022年10月21日")
    characters = len(line.text.replace("\t", ""))
    assert (line.style.font.size, characters * Pt(14) <= Mm(156)) == (Pt(14), True)


def test_paragraph_border_precedes_spacing_in_schema_order_when_rendered(
    document: DocxDocument,
) -> None:
    line = _paragraph(document, "四川省政府政务服务和公共资源交易服务中心\t2022年10月21日")
    tags = [child.tag for child in _properties(line)]
    assert tags == [qn("w:pStyle"), qn("w:pBdr"), qn("w:tabs")]


def test_headings_use_their_fonts_when_rendered(document: DocxDocument) -> None:
    assert [
        _fonts(_paragraph(document, text))
        for text in (
            "政务服务工作",
            "（9月13日—9月16日）",
            "二、窗口工作动态",
            "（一）优化营商环境工作开展情况",
        )
    ] == [{"方正小标宋简体"}, {"楷体_GB2312"}, {"黑体"}, {"楷体_GB2312"}]


def test_column_title_is_22pt_when_rendered(document: DocxDocument) -> None:
    assert _paragraph(document, "政务服务工作").runs[0].font.size == Pt(22)


def test_items_are_run_in_numbered_paragraphs_when_rendered(document: DocxDocument) -> None:
    expected = [
        f"（{n}）{text}" for n, text in enumerate(EXPECTED_BUSINESS_ENVIRONMENT_ITEMS, start=1)
    ] + [f"（{n}）{text}" for n, text in enumerate(EXPECTED_SERVICE_EFFICIENCY_ITEMS, start=1)]
    assert [
        p.text for p in document.paragraphs if p.text[:3] in {"（1）", "（2）", "（3）", "（4）"}
    ] == (expected)


def test_body_paragraphs_have_a_two_character_first_line_indent_when_rendered(
    document: DocxDocument,
) -> None:
    item = next(p for p in document.paragraphs if p.text.startswith("（1）为扎实推进"))
    assert (_style_format(item).first_line_indent, item.runs[0].font.bold) == (Pt(32), None)


def test_criteria_labels_are_bold_runs_when_rendered(document: DocxDocument) -> None:
    criteria = [p for p in document.paragraphs if p.text.startswith(("（一）按时", "（六）大厅"))]
    assert [[(run.text, run.font.bold) for run in p.runs] for p in criteria] == [
        [("（一）", None), ("按时到岗情况。", True), ("总体情况良好。", None)],
        [("（六）", None), ("大厅防控情况。", True), ("全体居家办公，大厅实行关闭状态。", None)],
    ]


def _record(document: DocxDocument) -> CT_Tbl:
    (table,) = document.tables
    return table._tbl


def test_record_has_thick_and_thin_rules_around_14pt_lines_when_rendered(
    document: DocxDocument,
) -> None:
    rows = []
    for row in document.tables[0].rows:
        (cell,) = row.cells
        borders = cell._tc.tcPr.find(qn("w:tcBorders"))
        sizes = tuple(
            None if (side := borders.find(qn(f"w:{name}"))) is None else side.get(qn("w:sz"))
            for name in ("top", "bottom")
        )
        (paragraph,) = cell.paragraphs
        rows.append((paragraph.text, paragraph.runs[0].font.size, sizes))
    assert rows == [
        ("报：中心领导。", Pt(14), ("8", "6")),
        ("送：各相关省级部门（单位），中心各处（室）、直属单位。", Pt(14), (None, "6")),
        ("发：各部门窗口。", Pt(14), (None, "6")),
        ("（共印 80 份）", Pt(14), (None, "8")),
    ]


def test_record_floats_at_the_foot_of_the_text_area_full_width_when_rendered(
    document: DocxDocument,
) -> None:
    table = _record(document)
    position = table.tblPr.find(qn("w:tblpPr"))
    width = table.tblPr.find(qn("w:tblW"))
    assert (
        position.get(qn("w:vertAnchor")),
        position.get(qn("w:tblpYSpec")),
        position.get(qn("w:horzAnchor")),
        position.get(qn("w:tblpX")),
        width.get(qn("w:w")),
    ) == ("margin", "bottom", "page", str(Mm(28).twips), str(Mm(156).twips))


def test_record_is_anchored_to_the_last_line_of_the_body_when_rendered(
    document: DocxDocument,
) -> None:
    # A floating table belongs to the paragraph after it: the last criterion, which moves
    # to the next page with the 版记 when the body leaves no room for it.
    following = _record(document).getnext()
    assert Paragraph(following, document).text.startswith("（六）大厅防控情况。")
    assert following.getnext().tag == qn("w:sectPr")


@pytest.mark.parametrize("breaks", [1, 2])
def test_record_sits_alone_pages_later_when_asked_for_page_breaks(breaks: int) -> None:
    stream = io.BytesIO()
    render_docx(compile_draft(*reference()), stream, record_page_breaks=breaks)
    document = docx.Document(io.BytesIO(stream.getvalue()))
    breaking = [p for p in document.paragraphs if p.paragraph_format.page_break_before]
    assert len(breaking) == breaks
    assert _record(document).getnext() is breaking[-1]._p
    assert document.paragraphs[-breaks - 1].text.startswith("（六）")
    assert all(p.text == "" for p in breaking)


def test_print_count_is_right_aligned_one_character_in_when_rendered(
    document: DocxDocument,
) -> None:
    (paragraph,) = document.tables[0].rows[-1].cells[0].paragraphs
    assert paragraph.text == "（共印 80 份）"
    paragraph_format = _style_format(paragraph)
    assert (paragraph_format.alignment, paragraph_format.right_indent) == (
        WD_ALIGN_PARAGRAPH.RIGHT,
        Pt(14),
    )


def test_footers_carry_a_page_field_odd_right_even_left_when_rendered(
    document: DocxDocument,
) -> None:
    section = document.sections[0]
    rows = []
    for footer in (section.footer, section.even_page_footer):
        paragraph = footer.paragraphs[0]
        instruction = paragraph._p.find(f".//{qn('w:instrText')}")
        rows.append((paragraph.text, instruction.text, paragraph.alignment, _fonts(paragraph)))
    settings = document.settings
    assert (settings.odd_and_even_pages_header_footer, _mm(section.footer_distance), rows) == (
        True,
        25,
        [
            ("— 1 —", " PAGE ", WD_ALIGN_PARAGRAPH.RIGHT, {"宋体"}),
            ("— 1 —", " PAGE ", WD_ALIGN_PARAGRAPH.LEFT, {"宋体"}),
        ],
    )


def test_every_item_is_a_paragraph_when_the_issue_is_large() -> None:
    # Timing belongs in benchmarks/; this checks that a large issue renders completely.
    issue = reference_issue()
    items = tuple(
        ItemEntry("service_efficiency", "住建厅", issue.items[i % len(issue.items)].text)
        for i in range(300)
    )
    draft = compile_draft(reference_template(), replace(issue, items=items))
    document = docx.Document(io.BytesIO(_docx_bytes(draft)))
    numbers = [
        p.text[: p.text.index("）") + 1]
        for p in document.paragraphs
        if re.match(r"（\d+）", p.text)
    ]
    assert numbers == [f"（{n}）" for n in range(1, 301)]


def _office() -> str | None:
    return shutil.which("libreoffice") or shutil.which("soffice")


@pytest.mark.skipif(_office() is None, reason="LibreOffice is not installed")
def test_libreoffice_converts_the_docx_to_pdf_when_installed(
    reference_docx: bytes, tmp_path: Path
) -> None:
    source = tmp_path / "bulletin.docx"
    source.write_bytes(reference_docx)
    office = _office()
    assert office is not None
    subprocess.run(
        [
            office,
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / "bulletin.pdf"
    assert pdf.exists() and pdf.stat().st_size > 0 and pdf.read_bytes().startswith(b"%PDF")


def test_headings_keep_with_their_first_item_and_lines_avoid_widows_when_rendered(
    document: DocxDocument,
) -> None:
    keep = [
        document.styles[name].paragraph_format.keep_with_next
        for name in ("Bulletin Heading 1", "Bulletin Heading 2")
    ]
    assert keep == [True, True]
    assert document.styles["Normal"].paragraph_format.widow_control is True
