"""Markdown rendering (bulletin-format.md §5)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from report.bulletin import ItemEntry
from report.compile import compile_draft
from report.render_markdown import render_markdown
from tests.report.reference_issue import (
    EXPECTED_LINES,
    reference,
    reference_issue,
    reference_template,
)

CHECK_DRAFT = Path("/work/shared/tools/check-draft")


def _reference_markdown() -> str:
    return render_markdown(compile_draft(*reference()))


def _item_markdown(text: str) -> str:
    """Return the Markdown paragraph of a single item with `text`."""
    issue = replace(reference_issue(), items=(ItemEntry("business_environment", "商务厅", text),))
    markdown = render_markdown(compile_draft(reference_template(), issue))
    return next(block for block in markdown.split("\n\n") if block.startswith("（1）"))


def test_paragraphs_match_the_reference_lines_when_markup_is_removed() -> None:
    blocks = _reference_markdown().rstrip("\n").split("\n\n")
    texts = [
        block.lstrip("#").strip().replace("<b>", "").replace("</b>", "")
        for block in blocks
        if block != "---"
    ]
    assert texts == list(EXPECTED_LINES)


def test_blocks_carry_the_spec_markup_when_rendering_the_reference() -> None:
    blocks = _reference_markdown().split("\n\n")
    assert [block for block in blocks if block.startswith("#") or block == "---"] == [
        "# 窗口工作周报",
        "---",
        "## 政务服务工作",
        "### 一、省级政务服务事项受理办理情况",
        "### 二、窗口工作动态",
        "#### （一）优化营商环境工作开展情况",
        "#### （二）窗口服务效能提升工作情况",
        "### 三、大厅巡查情况",
        "---",
    ]


def test_criteria_labels_are_bold_with_their_full_stop_when_rendered() -> None:
    # As in the reference (**按时到岗情况。**) and the .docx; <b> because a closing ** after
    # 。 and before a Chinese letter does not close under CommonMark/GFM.
    blocks = _reference_markdown().split("\n\n")
    assert [block for block in blocks if "<b>" in block] == [
        "（一）<b>按时到岗情况。</b>总体情况良好。",
        "（二）<b>工作区域标准化执行情况。</b>总体情况良好。",
        "（三）<b>着装情况。</b>总体情况良好。",
        "（四）<b>工作牌佩戴情况。</b>总体情况良好。",
        "（五）<b>纪律秩序。</b>总体情况良好。",
        "（六）<b>大厅防控情况。</b>全体居家办公，大厅实行关闭状态。",
    ]
    assert "**" not in _reference_markdown()


def test_document_is_lf_terminated_with_blank_lines_between_blocks_when_rendered() -> None:
    markdown = _reference_markdown()
    assert (markdown.endswith("（共印 80 份）\n"), "\r" in markdown, "\n\n\n" in markdown) == (
        True,
        False,
        False,
    )


@pytest.mark.skipif(not CHECK_DRAFT.exists(), reason="shared/tools/check-draft is not available")
def test_check_draft_passes_when_given_the_reference_markdown(tmp_path: Path) -> None:
    draft_path = tmp_path / "draft.md"
    draft_path.write_text(_reference_markdown(), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(CHECK_DRAFT), str(draft_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "35/35 reference elements present",
    )


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("窗口<b>加粗</b>办公", r"（1）窗口\<b\>加粗\</b\>办公。"),
        ("受理*100*件", r"（1）受理\*100\*件。"),
        ("受理_100_件", r"（1）受理\_100\_件。"),
        ("见[链接](http://x.cn)", r"（1）见\[链接\](http://x.cn)。"),
        ("代码`rm`", r"（1）代码\`rm\`。"),
        ("实体&amp;", r"（1）实体\&amp;。"),
        ("删除~~线~~", r"（1）删除\~\~线\~\~。"),
        ("反斜杠\\n", r"（1）反斜杠\\n。"),
    ],
)
def test_markup_in_item_text_is_escaped_when_rendered(text: str, markdown: str) -> None:
    assert _item_markdown(text) == markdown


def test_item_starting_with_a_hash_stays_a_paragraph_when_rendered() -> None:
    assert _item_markdown("# 标题") == "（1）# 标题。"


def test_plain_item_gets_no_backslashes_when_it_has_no_markup() -> None:
    assert _item_markdown("“互联网+医疗健康”论坛") == "（1）“互联网+医疗健康”论坛。"


def test_paragraph_starting_with_a_block_marker_is_escaped_when_configured_text_has_one() -> None:
    template = replace(reference_template(), inspection_intro="- 2022. 巡查")
    markdown = render_markdown(compile_draft(template, reference_issue()))
    assert "\n\n\\- 2022. 巡查\n\n" in markdown


def test_ordered_list_number_is_escaped_when_a_paragraph_starts_with_one() -> None:
    template = replace(reference_template(), organisation="2022. 中心")
    markdown = render_markdown(compile_draft(template, reference_issue()))
    assert "\n\n2022\\. 中心\n\n" in markdown
