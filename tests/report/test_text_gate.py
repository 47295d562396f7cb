"""The text gate: what XML 1.0 and PostgreSQL cannot hold never gets in; nothing else changes."""

from __future__ import annotations

import io

import pytest
from docx import Document
from hypothesis import given
from hypothesis import strategies as st

from report.text_gate import clean_text

ITEM = "商务厅窗口推广电子营业执照，企业办事无需另行提交纸质营业执照。"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        (ITEM, ITEM),
        ("办结\uffff业务4082件", "办结业务4082件"),
        ("办结\ufffe业务", "办结业务"),
        ("\U0001ffff办结\U0010fffe业务", "办结业务"),
        ("办结\ufdd0业务", "办结业务"),
        ("办结\x00业务\x07\x1b", "办结业务"),
        ("办结\x85业务\x9f", "办结业务"),
        ("办结\ud800业务\udfff", "办结业务"),
        ("\ufeff办结业务", "办结业务"),
        ("办\u2060结", "办结"),
        ("办\u200d结\u200c业\u200b务", "办结业务"),
        ("\u200d办结", "办结"),
        ("see\u200bthis", "seethis"),
        # A zero-width joiner between emoji is what makes the family one picture: kept.
        ("家庭👨\u200d👩\u200d👧到窗口办事", "家庭👨\u200d👩\u200d👧到窗口办事"),
        ("第一段\r\n第二段\r第三段", "第一段\n第二段\n第三段"),
        ("制表\t保留\n换行保留", "制表\t保留\n换行保留"),
        ("", ""),
    ],
)
def test_gate_removes_what_cannot_be_stored_or_printed_and_keeps_the_rest(
    typed: str, kept: str
) -> None:
    assert clean_text(typed) == kept


def _xml_compatible(text: str) -> bool:
    """What lxml accepts in a .docx run (the check python-docx's writes go through)."""
    paragraph = Document().add_paragraph()
    try:
        paragraph.add_run(text)
    except ValueError:
        return False
    return True


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40))
def test_gate_output_is_always_xml_compatible_and_stable(text: str) -> None:
    cleaned = clean_text(text)

    assert _xml_compatible(cleaned)
    assert "\x00" not in cleaned  # PostgreSQL's text type cannot hold NUL
    cleaned.encode("utf-8")  # no lone surrogate: it would raise here
    assert clean_text(cleaned) == cleaned


@given(st.text(alphabet=st.characters(categories=("Lo", "Nd", "Po", "Zs", "Lu", "Ll"))))
def test_gate_changes_nothing_in_ordinary_text(text: str) -> None:
    assert clean_text(text) == text


def test_gate_output_saves_as_a_document() -> None:
    document = Document()
    document.add_paragraph(clean_text("办结\uffff业务\x00\ud800"))
    document.save(io.BytesIO())
