"""What report/render_docx.py reaches inside python-docx for, checked on the rendered file.

python-docx has no public way to rewrite a part or to reach a section's or a paragraph's XML,
so the renderer uses its private names: `Part._blob` (the font table), `Section._sectPr`,
`Paragraph._p`, `Run._element`. pyproject.toml pins python-docx to the release these tests passed
on. A release that renames them fails here, naming the name; one that stops reading
`_blob` would otherwise silently drop the fallback faces from the font table.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn

from report.compile import compile_draft
from report.render_docx import FALLBACKS, render_docx
from tests.report.reference_issue import reference

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _rendered() -> bytes:
    stream = io.BytesIO()
    render_docx(compile_draft(*reference()), stream)
    return stream.getvalue()


def test_python_docx_is_the_release_pinned_in_pyproject() -> None:
    from importlib.metadata import version

    installed = version("python-docx")
    pins = re.findall(r'"python-docx==([\d.]+)"', PYPROJECT.read_text())
    assert pins == [installed], (
        f"python-docx {installed} is installed, pyproject.toml pins {pins}: "
        "report/render_docx.py uses private names of the pinned release"
    )


def test_private_names_the_renderer_uses_exist_when_a_document_is_read() -> None:
    document = docx.Document(io.BytesIO(_rendered()))
    paragraph = document.paragraphs[0]
    part = document.part.part_related_by(RT.FONT_TABLE)
    used = {
        "Part._blob": part,
        "Section._sectPr": document.sections[0],
        "Paragraph._p": paragraph,
        "Run._element": paragraph.runs[0],
    }
    missing = [name for name, owner in used.items() if not hasattr(owner, name.split(".")[1])]
    assert not missing, f"python-docx no longer has {missing}: see report/render_docx.py"


def test_font_table_written_through_blob_declares_every_fallback_when_rendered() -> None:
    document = docx.Document(io.BytesIO(_rendered()))
    fonts = docx.oxml.parse_xml(document.part.part_related_by(RT.FONT_TABLE).blob)
    declared = {
        font.get(qn("w:name")): font.find(qn("w:altName")).get(qn("w:val"))
        for font in fonts.iter(qn("w:font"))
        if font.find(qn("w:altName")) is not None
    }
    assert declared == {name: fallback.alt_name for name, fallback in FALLBACKS.items()}
