"""render_docx's shortcuts write byte for byte the .docx that python-docx's own API wrote.

render_docx reopens a cached, already styled blank document instead of styling a fresh
`Document()` each time, and builds paragraphs by copying prototype XML instead of calling
`add_paragraph`/`add_run`/`Run.text`. The reference below is the code before those shortcuts:
a fresh `Document()` set up through python-docx and the paragraph writer that used its API.
"""

from __future__ import annotations

import io
import zipfile
from copy import deepcopy
from dataclasses import replace

import pytest
from docx import Document
from docx.document import Document as DocxDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from report import messages
from report import render_docx as module
from report.bulletin import Draft, DraftCriterion, DraftSubsection, NumberedItem
from report.compile import compile_draft
from report.errors import RenderError
from report.render_docx import STYLES, render_docx
from tests.report.reference_issue import reference


class ReferenceWriter:
    """The paragraph writer before the prototypes: python-docx's API, run properties copied."""

    def __init__(self, document: DocxDocument) -> None:
        self._document = document
        self._style_ids = {spec.name: document.styles[spec.name].style_id for spec in STYLES}
        self._run_properties: dict[tuple[str, bool], BaseOxmlElement] = {}

    def paragraph(
        self, spec: module._StyleSpec, text: str = "", *, into: BaseOxmlElement | None = None
    ) -> Paragraph:
        paragraph = self._document.add_paragraph()
        if into is not None:  # a 版记 table cell
            into.append(paragraph._p)
        paragraph._p.style = self._style_ids[spec.name]
        if text:
            self.run(paragraph, text, spec)
        return paragraph

    def run(
        self, paragraph: Paragraph, text: str, spec: module._StyleSpec, *, bold: bool = False
    ) -> Run:
        run = paragraph.add_run()
        run._r.insert(0, deepcopy(self._properties(spec, bold)))
        run.text = text
        return run

    def _properties(self, spec: module._StyleSpec, bold: bool) -> BaseOxmlElement:
        key = (spec.name, bold)
        if key not in self._run_properties:
            properties = OxmlElement("w:rPr")
            fonts = {qn(attribute): spec.font for attribute in module._FONT_ATTRIBUTES}
            properties.append(OxmlElement("w:rFonts", attrs=fonts))
            if bold:
                properties.append(OxmlElement("w:b"))
            half_points = str(round(spec.size.pt * 2))
            properties.append(OxmlElement("w:sz", attrs={qn("w:val"): half_points}))
            self._run_properties[key] = properties
        return self._run_properties[key]


def _reference_docx(draft: Draft, monkeypatch: pytest.MonkeyPatch) -> bytes:
    document = Document()
    module._set_properties(document, draft)
    module._set_up_document(document)
    with monkeypatch.context() as patch:
        patch.setattr(module, "_Writer", ReferenceWriter)
        module._write_body(document, draft, record_page_breaks=0)
    stream = io.BytesIO()
    document.save(stream)
    return stream.getvalue()


def _docx(draft: Draft) -> bytes:
    stream = io.BytesIO()
    render_docx(draft, stream)
    return stream.getvalue()


def _parts(docx_bytes: bytes) -> list[tuple[str, int, bytes]]:
    """Every part in zip order with its compression; only the zip timestamps are left out."""
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as archive:
        return [
            (info.filename, info.compress_type, archive.read(info.filename))
            for info in archive.infolist()
        ]


def _reference_draft() -> Draft:
    return compile_draft(*reference())


# Texts that take python-docx's other branches: tabs and line breaks become w:tab and w:br,
# outer whitespace (also U+3000 and NBSP) needs xml:space="preserve", an empty text no w:t.
_AWKWARD_TEXTS = (
    " 前有空格",
    "后有空格 ",
    "\u3000全角空格\u3000",
    "不换行空格\u00a0",
    "制表\t符",
    "\t",
    "换\n行",
    "回\r车",
    "回车\r\n换行",
    "\n",
    "多\t\t个\n\n分隔\t",
    "<&>\"'",
    "x",
)


def _awkward_draft() -> Draft:
    draft = _reference_draft()
    items = tuple(NumberedItem(number, text) for number, text in enumerate(_AWKWARD_TEXTS, start=1))
    criteria = tuple(
        DraftCriterion(numeral, label, result)
        for numeral, label, result in (
            ("一", "", ""),
            ("二", " 标签 ", "\t结果\n"),
            ("三", "标签。", " "),
        )
    )
    return replace(
        draft,
        title=" 窗口\t工作周报 ",
        issue_line="\n",
        organisation="",
        date_line=" ",
        column_title="政务\r服务",
        period_line="",
        statistics_sentence="统计\n语句 ",
        subsections=(*draft.subsections, DraftSubsection("三", " 标题\t", items)),
        inspection_intro="",
        criteria=criteria,
        distribution=(" 报：\t中心领导。", "", "发：\n各部门窗口。 "),
        print_count="",
    )


def _long_draft() -> Draft:
    draft = _reference_draft()
    items = tuple(
        NumberedItem(number, f"第{number}条动态，受理 {number} 件。") for number in range(1, 401)
    )
    return replace(draft, subsections=(*draft.subsections, DraftSubsection("三", "其他", items)))


@pytest.mark.parametrize("draft", [_reference_draft(), _awkward_draft(), _long_draft()])
def test_docx_is_the_one_python_docx_wrote_when_rendered(
    draft: Draft, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _parts(_docx(draft)) == _parts(_reference_docx(draft, monkeypatch))


def test_docx_is_the_same_when_rendered_twice_in_one_process() -> None:
    # The styled blank is cached: the second document must not carry anything of the first.
    first = _docx(_awkward_draft())
    _docx(_long_draft())
    assert _parts(_docx(_awkward_draft())) == _parts(first)


def test_invalid_xml_text_is_refused_when_rendered_as_python_docx_refused_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draft = replace(_reference_draft(), title="窗口\x01周报")
    with pytest.raises(ValueError, match="XML compatible"):
        _reference_docx(draft, monkeypatch)
    with pytest.raises(RenderError, match="XML compatible") as refused:
        _docx(draft)
    assert refused.value.user_message == messages.RENDER_FAILED  # what the editor is told
