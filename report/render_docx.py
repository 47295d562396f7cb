"""Render a Draft as a .docx following GB/T 9704-2012 conventions (bulletin-format.md §4)."""

from __future__ import annotations

import functools
import io
import re
from copy import deepcopy
from dataclasses import dataclass
from typing import IO, Final, cast

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.oxml.text.paragraph import CT_P
from docx.oxml.text.run import CT_R
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.section import Section
from docx.shared import Length, Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from report import messages
from report.bulletin import Draft
from report.errors import RenderError

FANGSONG: Final = "仿宋_GB2312"
KAITI: Final = "楷体_GB2312"
HEITI: Final = "黑体"
XIAOBIAOSONG: Final = "方正小标宋简体"
SONGTI: Final = "宋体"


@dataclass(frozen=True, slots=True)
class _Fallback:
    """What the font table tells Word and WPS about a face it may not have (ECMA-376 17.8.3).

    The 公文 names stay in every run; where a face is missing, Word takes `alt_name`, then
    a face of the same `family` (roman: serif, swiss: sans, script: 楷) and PANOSE class, so
    仿宋 falls back to a serif, 黑体 to a sans and 楷体 to a 楷, not all to one face.
    """

    alt_name: str
    family: str
    panose: str  # PANOSE-1 of the Windows face named by alt_name
    pitch: str = "variable"


FALLBACKS: Final = {
    FANGSONG: _Fallback("仿宋", "roman", "02010609060101010101"),
    KAITI: _Fallback("楷体", "script", "02010609060101010101"),
    HEITI: _Fallback("SimHei", "swiss", "02010609060101010101"),
    XIAOBIAOSONG: _Fallback("宋体", "roman", "02010600030101010101"),
    SONGTI: _Fallback("SimSun", "roman", "02010600030101010101"),
}
GB2312_CHARSET: Final = "86"

# Chinese type sizes in points.
SIZE_XIAOCHU: Final = Pt(36)  # 小初: masthead (practice, not standard)
SIZE_2: Final = Pt(22)  # 二号
SIZE_3: Final = Pt(16)  # 三号: body
SIZE_4: Final = Pt(14)  # 四号: 版记, page numbers

RED: Final = RGBColor(0xFF, 0x00, 0x00)
RED_HEX: Final = "FF0000"
BLACK_HEX: Final = "000000"

TEXT_WIDTH: Final = Mm(156)  # 版心 width: 210 − 28 − 26 mm
LEFT_MARGIN: Final = Mm(28)
LINE_PITCH: Final = Pt(28.95)  # 22 lines in the 225 mm 版心
LINE_PITCH_TWIPS: Final = "579"
BODY_INDENT: Final = Pt(32)  # two 三号 characters
RECORD_INDENT: Final = Pt(14)  # one 四号 character
# Border widths in eighths of a point.
RED_RULE_SIZE: Final = 18  # 2.25 pt
THICK_RULE_SIZE: Final = 8  # ≈ 0.35 mm
THIN_RULE_SIZE: Final = 6  # ≈ 0.25 mm

# Children of w:pPr that must follow w:pBdr (ECMA-376 CT_PPrBase order); appending the border
# after w:spacing instead breaks the schema and Word refuses the file.
_AFTER_PBDR: Final = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
    "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
    "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents",
    "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment", "w:textboxTightWrap",
    "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange",
)  # fmt: skip
_AFTER_SNAP_TO_GRID: Final = _AFTER_PBDR[_AFTER_PBDR.index("w:snapToGrid") + 1 :]
_AFTER_OUTLINE_LEVEL: Final = ("w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")
_FONT_ATTRIBUTES: Final = ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs")
_THEME_FONT_ATTRIBUTES: Final = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


@dataclass(frozen=True, slots=True)
class _StyleSpec:
    """A paragraph style of the bulletin; runs repeat its font so every reader agrees."""

    name: str
    font: str
    size: Length
    alignment: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.JUSTIFY
    first_line_indent: Length | None = None
    left_indent: Length | None = None
    right_indent: Length | None = None
    line_spacing: Length = LINE_PITCH
    outline_level: int | None = None  # shows headings in Word's navigation pane
    keep_with_next: bool = False
    snap_to_grid: bool = True


MASTHEAD: Final = _StyleSpec(
    "Bulletin Masthead",
    XIAOBIAOSONG,
    SIZE_XIAOCHU,
    WD_ALIGN_PARAGRAPH.CENTER,
    # Exact spacing below the font size clips the glyphs; two grid lines keep the grid.
    line_spacing=Pt(28.95 * 2),
)
ISSUE_LINE: Final = _StyleSpec("Bulletin Issue Line", FANGSONG, SIZE_3, WD_ALIGN_PARAGRAPH.CENTER)
# 四号, not 三号: the 20-character organisation and the date (31 characters with the gap)
# do not fit one 156 mm line at 16 pt, and they must share it above the red rule.
ORGANISATION: Final = _StyleSpec("Bulletin Organisation", FANGSONG, SIZE_4, WD_ALIGN_PARAGRAPH.LEFT)
COLUMN_TITLE: Final = _StyleSpec(
    "Bulletin Column Title", XIAOBIAOSONG, SIZE_2, WD_ALIGN_PARAGRAPH.CENTER, keep_with_next=True
)
PERIOD: Final = _StyleSpec(
    "Bulletin Period", KAITI, SIZE_3, WD_ALIGN_PARAGRAPH.CENTER, keep_with_next=True
)
# Headings keep with their first item: no page ends with a heading.
HEADING_1: Final = _StyleSpec(
    "Bulletin Heading 1",
    HEITI,
    SIZE_3,
    first_line_indent=BODY_INDENT,
    outline_level=0,
    keep_with_next=True,
)
HEADING_2: Final = _StyleSpec(
    "Bulletin Heading 2",
    KAITI,
    SIZE_3,
    first_line_indent=BODY_INDENT,
    outline_level=1,
    keep_with_next=True,
)
BODY: Final = _StyleSpec("Bulletin Body", FANGSONG, SIZE_3, first_line_indent=BODY_INDENT)
# The 版记's lines, one row each of a table at the foot of the last page (see _write_record).
RECORD: Final = _StyleSpec(
    "Bulletin Record",
    FANGSONG,
    SIZE_4,
    WD_ALIGN_PARAGRAPH.LEFT,
    left_indent=RECORD_INDENT,
    right_indent=RECORD_INDENT,
    keep_with_next=True,
)
PRINT_COUNT: Final = _StyleSpec(
    "Bulletin Print Count",
    FANGSONG,
    SIZE_4,
    WD_ALIGN_PARAGRAPH.RIGHT,
    left_indent=RECORD_INDENT,
    right_indent=RECORD_INDENT,
    keep_with_next=True,
)
STYLES: Final = (
    MASTHEAD,
    ISSUE_LINE,
    ORGANISATION,
    COLUMN_TITLE,
    PERIOD,
    HEADING_1,
    HEADING_2,
    BODY,
    RECORD,
    PRINT_COUNT,
)


def render_docx(draft: Draft, stream: IO[bytes], *, record_page_breaks: int = 0) -> None:
    """Write the draft to `stream` as a .docx document.

    The 版记 sits at the foot of the page the body ends on (GB/T 9704 §7.4); if the body
    leaves no room there, the body's last line moves to the next page with it. With
    `record_page_breaks` n > 0 it sits at the foot of the n-th page after the body's, alone:
    printed double-sided the 版记 must be on an even page, and only a layout tells on which
    page the body ends, so the caller that laid the document out decides (bot/typeset.py).

    RenderError if a text cannot be written into XML: the text gate keeps such characters
    out, so this only happens to a row that bypassed it, and the editor is told, not a job
    stuck on a traceback.
    """
    document = Document(io.BytesIO(_blank_bulletin()))
    try:
        _set_properties(document, draft)
        _write_body(document, draft, record_page_breaks=record_page_breaks)
    except ValueError as error:  # lxml: "All strings must be XML compatible"
        raise RenderError(f"docx: {error}", messages.RENDER_FAILED) from error
    document.save(stream)


def set_font(element: BaseOxmlElement, name: str) -> None:
    """Set all four font slots of a run or style; `run.font.name` alone misses w:eastAsia."""
    fonts = element.get_or_add_rPr().get_or_add_rFonts()
    for attribute in _FONT_ATTRIBUTES:
        fonts.set(qn(attribute), name)
    for attribute in _THEME_FONT_ATTRIBUTES:
        fonts.attrib.pop(qn(attribute), None)


@functools.cache
def _blank_bulletin() -> bytes:
    """Return a .docx with the bulletin's styles, page and footers and no text.

    Setting these up through python-docx costs about as much as writing a 300-item issue
    (each `add_style` scans every style), and none of it depends on the draft: it is done once
    per process and the saved result reopened for each draft, which costs what `Document()`
    costs anyway. Saving and reopening leaves every part byte for byte as it was.
    """
    document = Document()
    _set_up_document(document)
    stream = io.BytesIO()
    document.save(stream)
    return stream.getvalue()


def _set_properties(document: DocxDocument, draft: Draft) -> None:
    properties = document.core_properties
    properties.title = f"{draft.title} {draft.issue_line}"
    properties.author = draft.organisation
    properties.last_modified_by = draft.organisation
    properties.comments = ""


def _set_up_document(document: DocxDocument) -> None:
    _set_defaults(document)
    for spec in STYLES:
        _add_style(document, spec)
    section = document.sections[0]
    _set_up_page(section)
    # Odd pages carry the number on the right, even pages on the left (GB/T 9704 §7.5).
    document.settings.odd_and_even_pages_header_footer = True
    _write_page_number(section.footer.paragraphs[0], WD_ALIGN_PARAGRAPH.RIGHT)
    _write_page_number(section.even_page_footer.paragraphs[0], WD_ALIGN_PARAGRAPH.LEFT)
    _declare_fonts(document)


def _declare_fonts(document: DocxDocument) -> None:
    """Add the 公文 faces with their fallbacks to the font table (word/fontTable.xml)."""
    part = document.part.part_related_by(RT.FONT_TABLE)
    table = parse_xml(part.blob)
    for name, fallback in FALLBACKS.items():
        font = OxmlElement("w:font", attrs={qn("w:name"): name})
        font.append(OxmlElement("w:altName", attrs={qn("w:val"): fallback.alt_name}))
        font.append(OxmlElement("w:panose1", attrs={qn("w:val"): fallback.panose}))
        font.append(OxmlElement("w:charset", attrs={qn("w:val"): GB2312_CHARSET}))
        font.append(OxmlElement("w:family", attrs={qn("w:val"): fallback.family}))
        font.append(OxmlElement("w:pitch", attrs={qn("w:val"): fallback.pitch}))
        table.append(font)
    part._blob = serialize_part_xml(table)


def _set_defaults(document: DocxDocument) -> None:
    """Make 三号 仿宋 the default everywhere, including w:docDefaults used by other styles."""
    styles_element = document.styles.element
    defaults = styles_element.find(qn("w:docDefaults"))
    run_defaults = None if defaults is None else defaults.find(qn("w:rPrDefault"))
    run_properties = None if run_defaults is None else run_defaults.find(qn("w:rPr"))
    if run_properties is not None:
        fonts = run_properties.find(qn("w:rFonts"))
        if fonts is None:
            fonts = OxmlElement("w:rFonts")
            run_properties.insert(0, fonts)
        for attribute in _THEME_FONT_ATTRIBUTES:
            fonts.attrib.pop(qn(attribute), None)
        for attribute in _FONT_ATTRIBUTES:
            fonts.set(qn(attribute), FANGSONG)
        for tag in ("w:sz", "w:szCs"):
            size = run_properties.find(qn(tag))
            if size is not None:
                size.set(qn("w:val"), "32")
        language = run_properties.find(qn("w:lang"))
        if language is not None:
            language.set(qn("w:eastAsia"), "zh-CN")
    # Styles not based on Normal (tables, footnotes) would otherwise get 10 pt after each line.
    paragraph_defaults = None if defaults is None else defaults.find(qn("w:pPrDefault"))
    default_paragraph = None if paragraph_defaults is None else paragraph_defaults.find(qn("w:pPr"))
    spacing = None if default_paragraph is None else default_paragraph.find(qn("w:spacing"))
    if spacing is not None:
        spacing.set(qn("w:after"), "0")
    normal = document.styles["Normal"]
    set_font(normal.element, FANGSONG)
    normal.font.size = SIZE_3
    paragraph_format = normal.paragraph_format
    paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph_format.line_spacing = LINE_PITCH
    paragraph_format.space_before = Pt(0)
    paragraph_format.space_after = Pt(0)
    paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    # No single line of a paragraph alone at the foot or the head of a page.
    paragraph_format.widow_control = True


def _add_style(document: DocxDocument, spec: _StyleSpec) -> None:
    style = document.styles.add_style(spec.name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = document.styles["Normal"]
    style.quick_style = True
    set_font(style.element, spec.font)
    style.font.size = spec.size
    paragraph_format = style.paragraph_format
    paragraph_format.alignment = spec.alignment
    paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    paragraph_format.line_spacing = spec.line_spacing
    paragraph_format.space_before = Pt(0)
    paragraph_format.space_after = Pt(0)
    paragraph_format.first_line_indent = spec.first_line_indent or Pt(0)
    paragraph_format.left_indent = spec.left_indent or Pt(0)
    paragraph_format.right_indent = spec.right_indent or Pt(0)
    paragraph_format.keep_with_next = spec.keep_with_next
    if not spec.snap_to_grid:
        snap = OxmlElement("w:snapToGrid")
        snap.set(qn("w:val"), "0")
        style.element.get_or_add_pPr().insert_element_before(snap, *_AFTER_SNAP_TO_GRID)
    if spec.outline_level is not None:
        level = OxmlElement("w:outlineLvl")
        level.set(qn("w:val"), str(spec.outline_level))
        style.element.get_or_add_pPr().insert_element_before(level, *_AFTER_OUTLINE_LEVEL)


def _set_up_page(section: Section) -> None:
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = LEFT_MARGIN, Mm(26)
    # Puts the page number's dash about 7 mm below the 版心 (checked in a LibreOffice PDF).
    section.footer_distance = Mm(25)
    section_properties = section._sectPr
    grid = section_properties.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        section_properties.append(grid)
    # A line grid only. The 28-character grid (type linesAndChars, charSpace -848) made
    # LibreOffice 7.4 set about 14 characters a line, as if each were 32 pt wide; without it
    # 16 pt characters give 27 a line in the 156 mm 版心.
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), LINE_PITCH_TWIPS)
    grid.attrib.pop(qn("w:charSpace"), None)


class _Writer:
    """Append paragraphs to a document, building their XML from per-style prototypes.

    python-docx resolves a style name by scanning every style on each paragraph, finds the
    end of the body by scanning all paragraphs written so far, and writes run text character
    by character; copying a prototype paragraph and run (with the same elements and
    attributes python-docx would write) makes a paragraph cost a few microseconds instead.
    """

    def __init__(self, document: DocxDocument) -> None:
        self._document = document
        self._body = document.element.body
        # New paragraphs go before the body's final w:sectPr, as python-docx puts them.
        self._end = self._body.sectPr
        self._style_ids = {spec.name: document.styles[spec.name].style_id for spec in STYLES}
        self._paragraphs: dict[str, CT_P] = {}
        self._runs: dict[tuple[str, bool], CT_R] = {}

    def paragraph(
        self, spec: _StyleSpec, text: str = "", *, into: BaseOxmlElement | None = None
    ) -> Paragraph:
        """Append a paragraph to the body, or to the end of `into` (a table cell)."""
        paragraph = deepcopy(self._paragraph_prototype(spec))
        if text:
            self._append_run(paragraph, text, spec, bold=False)
        if into is not None:
            into.append(paragraph)
        elif self._end is None:
            self._body.append(paragraph)
        else:
            self._end.addprevious(paragraph)
        return Paragraph(paragraph, self._document)

    def run(self, paragraph: Paragraph, text: str, spec: _StyleSpec, *, bold: bool = False) -> Run:
        return Run(self._append_run(paragraph._p, text, spec, bold=bold), paragraph)

    def _append_run(self, paragraph: CT_P, text: str, spec: _StyleSpec, *, bold: bool) -> CT_R:
        run = deepcopy(self._run_prototype(spec, bold))
        paragraph.append(run)
        _set_run_text(run, text)
        return run

    def _paragraph_prototype(self, spec: _StyleSpec) -> CT_P:
        """Return an empty w:p with the spec's paragraph style, to copy for each paragraph."""
        if spec.name not in self._paragraphs:
            paragraph = cast(CT_P, OxmlElement("w:p"))  # as python-docx's add_paragraph()
            paragraph.style = self._style_ids[spec.name]
            self._paragraphs[spec.name] = paragraph
        return self._paragraphs[spec.name]

    def _run_prototype(self, spec: _StyleSpec, bold: bool) -> CT_R:
        """Return an empty w:r with the spec's fonts and size (and bold), to copy into runs."""
        key = (spec.name, bold)
        if key not in self._runs:
            run = OxmlElement("w:r")
            properties = OxmlElement("w:rPr")
            fonts = {qn(attribute): spec.font for attribute in _FONT_ATTRIBUTES}
            properties.append(OxmlElement("w:rFonts", attrs=fonts))
            if bold:
                properties.append(OxmlElement("w:b"))
            half_points = str(round(spec.size.pt * 2))
            properties.append(OxmlElement("w:sz", attrs={qn("w:val"): half_points}))
            run.append(properties)
            self._runs[key] = cast(CT_R, run)
        return self._runs[key]


# Characters python-docx's `Run.text` writes as elements of their own (w:tab, w:br).
_RUN_BREAK_RE: Final = re.compile("[\t\r\n]")
_TEXT_TAG: Final = qn("w:t")
_XML_SPACE: Final = qn("xml:space")


def _set_run_text(run: CT_R, text: str) -> None:
    """Write `text` into an empty run exactly as python-docx's `Run.text` would."""
    if _RUN_BREAK_RE.search(text):
        run.text = text  # python-docx splits at tabs and line breaks
    elif text:
        # One w:t, marked to keep its outer spaces when it has any (CT_R.add_t).
        element = run.makeelement(_TEXT_TAG, {})
        element.text = text
        if len(text.strip()) < len(text):
            element.set(_XML_SPACE, "preserve")
        run.append(element)


def _write_body(document: DocxDocument, draft: Draft, *, record_page_breaks: int) -> None:
    writer = _Writer(document)
    masthead = writer.paragraph(MASTHEAD, draft.title)
    masthead.runs[0].font.color.rgb = RED
    writer.paragraph(ISSUE_LINE, draft.issue_line)
    # Organisation flush left, date flush right on one line, the red rule as its border.
    organisation = writer.paragraph(ORGANISATION, f"{draft.organisation}\t{draft.date_line}")
    organisation.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    _set_border(organisation, "bottom", RED_RULE_SIZE, RED_HEX)
    writer.paragraph(COLUMN_TITLE, draft.column_title)
    writer.paragraph(PERIOD, draft.period_line)
    writer.paragraph(HEADING_1, draft.statistics_heading)
    writer.paragraph(BODY, draft.statistics_sentence)
    writer.paragraph(HEADING_1, draft.news_heading)
    for subsection in draft.subsections:
        writer.paragraph(HEADING_2, messages.bracketed(subsection.numeral) + subsection.title)
        for item in subsection.items:
            # Run-in: the number and the text share one paragraph and one run.
            writer.paragraph(BODY, messages.bracketed(str(item.number)) + item.text)
    writer.paragraph(HEADING_1, draft.inspection_heading)
    writer.paragraph(BODY, draft.inspection_intro)
    last = None
    for criterion in draft.criteria:
        last = line = writer.paragraph(BODY, messages.bracketed(criterion.numeral))
        writer.run(line, criterion.label, BODY, bold=True)
        writer.run(line, criterion.result, BODY)
    record = _write_record(writer, draft)
    if record_page_breaks > 0:
        # Empty paragraphs, each starting a page; the 版记 is anchored to the last of them.
        # (A section starting on an even page would say the same, but LibreOffice 7.4 starts
        # it on the next page, even or odd.)
        anchor = None
        for _ in range(record_page_breaks):
            anchor = writer.paragraph(BODY)
            anchor.paragraph_format.page_break_before = True
        assert anchor is not None
        anchor._p.addprevious(record)
    elif last is not None:
        # A floating table is anchored to the paragraph after it: the 版记 goes to the foot
        # of the page holding the last line of the body, which moves to the next page with
        # it when the body leaves no room.
        last._p.addprevious(record)


def _write_record(writer: _Writer, draft: Draft) -> BaseOxmlElement:
    """Return the 版记 as a table anchored to the foot of the page (GB/T 9704 §7.4).

    One row a line, one cell 版心 wide, its lines one 四号 character in; the first and last
    rules thick, those between thin. The table floats (w:tblpPr) at the bottom of the text
    area. LibreOffice floats a table as wide as the text area only when it is placed relative
    to the page, hence the horizontal position from the page edge rather than the margin.
    """
    width = str(TEXT_WIDTH.twips)
    table = OxmlElement("w:tbl")
    properties = OxmlElement("w:tblPr")
    position = {
        "w:leftFromText": "0",
        "w:rightFromText": "0",
        "w:topFromText": "0",
        "w:bottomFromText": "0",
        "w:vertAnchor": "margin",
        "w:horzAnchor": "page",
        "w:tblpX": str(LEFT_MARGIN.twips),
        "w:tblpYSpec": "bottom",
    }
    properties.append(OxmlElement("w:tblpPr", attrs={qn(k): v for k, v in position.items()}))
    properties.append(OxmlElement("w:tblOverlap", attrs={qn("w:val"): "never"}))
    properties.append(OxmlElement("w:tblW", attrs={qn("w:w"): width, qn("w:type"): "dxa"}))
    properties.append(OxmlElement("w:tblLayout", attrs={qn("w:type"): "fixed"}))
    margins = OxmlElement("w:tblCellMar")
    for side in ("w:top", "w:left", "w:bottom", "w:right"):
        margins.append(OxmlElement(side, attrs={qn("w:w"): "0", qn("w:type"): "dxa"}))
    properties.append(margins)
    table.append(properties)
    grid = OxmlElement("w:tblGrid")
    grid.append(OxmlElement("w:gridCol", attrs={qn("w:w"): width}))
    table.append(grid)
    lines = [(RECORD, line) for line in draft.distribution] + [(PRINT_COUNT, draft.print_count)]
    for index, (spec, text) in enumerate(lines):
        row = OxmlElement("w:tr")
        row_properties = OxmlElement("w:trPr")
        row_properties.append(OxmlElement("w:cantSplit"))
        row.append(row_properties)
        cell = OxmlElement("w:tc")
        cell_properties = OxmlElement("w:tcPr")
        cell_properties.append(OxmlElement("w:tcW", attrs={qn("w:w"): width, qn("w:type"): "dxa"}))
        borders = OxmlElement("w:tcBorders")
        last = index == len(lines) - 1
        if index == 0:
            borders.append(_border("w:top", THICK_RULE_SIZE))
        borders.append(OxmlElement("w:left", attrs={qn("w:val"): "nil"}))
        borders.append(_border("w:bottom", THICK_RULE_SIZE if last else THIN_RULE_SIZE))
        borders.append(OxmlElement("w:right", attrs={qn("w:val"): "nil"}))
        cell_properties.append(borders)
        cell.append(cell_properties)
        writer.paragraph(spec, text, into=cell)
        row.append(cell)
        table.append(row)
    return table


def _border(tag: str, size: int) -> BaseOxmlElement:
    attributes = {"w:val": "single", "w:sz": str(size), "w:space": "0", "w:color": BLACK_HEX}
    return OxmlElement(tag, attrs={qn(k): v for k, v in attributes.items()})


def _set_border(paragraph: Paragraph, side: str, size: int, color: str) -> None:
    """Give `paragraph` a single-line border on `side`, `size` in eighths of a point."""
    paragraph_properties = paragraph._p.get_or_add_pPr()
    borders = paragraph_properties.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        paragraph_properties.insert_element_before(borders, *_AFTER_PBDR)
    border = OxmlElement(f"w:{side}")
    border.set(qn("w:val"), "single")
    border.set(qn("w:sz"), str(size))
    border.set(qn("w:space"), "1")
    border.set(qn("w:color"), color)
    borders.append(border)


def _write_page_number(paragraph: Paragraph, alignment: WD_ALIGN_PARAGRAPH) -> None:
    """Write `— n —` with a PAGE field, one 四号 character in from the outer edge."""
    paragraph.alignment = alignment
    paragraph_format = paragraph.paragraph_format
    if alignment == WD_ALIGN_PARAGRAPH.RIGHT:
        paragraph_format.right_indent = RECORD_INDENT
    else:
        paragraph_format.left_indent = RECORD_INDENT
    _footer_run(paragraph, "— ")
    _field_char(paragraph, "begin")
    instruction = OxmlElement("w:instrText")
    instruction.set(qn("xml:space"), "preserve")
    instruction.text = " PAGE "
    _footer_run(paragraph, "")._element.append(instruction)
    _field_char(paragraph, "separate")
    _footer_run(paragraph, "1")  # cached result; readers recompute the field
    _field_char(paragraph, "end")
    _footer_run(paragraph, " —")


def _footer_run(paragraph: Paragraph, text: str) -> Run:
    run = paragraph.add_run(text)
    set_font(run._element, SONGTI)  # half-width 宋体 digits, as GB/T 9704 asks
    run.font.size = SIZE_4
    return run


def _field_char(paragraph: Paragraph, kind: str) -> None:
    character = OxmlElement("w:fldChar")
    character.set(qn("w:fldCharType"), kind)
    _footer_run(paragraph, "")._element.append(character)
