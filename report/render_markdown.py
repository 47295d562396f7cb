"""Render a Draft as Markdown (bulletin-format.md §5): UTF-8, LF, blank lines between blocks."""

from __future__ import annotations

import re
from typing import Final

from report import messages
from report.bulletin import Draft, DraftCriterion

_RULE: Final = "---"
# Characters that start inline markup anywhere in a CommonMark/GFM paragraph: emphasis, code,
# links and images, raw HTML, entities and strikethrough. The backslash itself comes first.
_INLINE_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>&~])")
# Block markers that only matter at the start of a paragraph: headings, quotes, list items,
# setext underlines, and ordered-list numbers such as `2022.` or `1)`.
_BLOCK_START: Final = re.compile(r"^(?:([#>+=|-])|(\d{1,9})([.)]))")
_LINE_BREAK: Final = re.compile(r"\s*[\r\n]+\s*")


def render_markdown(draft: Draft) -> str:
    """Return the draft as a Markdown document."""
    blocks: list[str] = [
        f"# {_escape(draft.title)}",
        _paragraph(draft.issue_line),
        _paragraph(draft.organisation),
        _paragraph(draft.date_line),
        _RULE,  # the red rule under the masthead
        f"## {_escape(draft.column_title)}",
        _paragraph(draft.period_line),
        f"### {_escape(draft.statistics_heading)}",
        _paragraph(draft.statistics_sentence),
        f"### {_escape(draft.news_heading)}",
    ]
    for subsection in draft.subsections:
        heading = messages.bracketed(subsection.numeral) + subsection.title
        blocks.append(f"#### {_escape(heading)}")
        # Items are paragraphs that begin with （n）, never Markdown lists: `1.` would be
        # renumbered by renderers and `- ` would add bullets.
        blocks.extend(
            _paragraph(messages.bracketed(str(item.number)) + item.text)
            for item in subsection.items
        )
    blocks.append(f"### {_escape(draft.inspection_heading)}")
    blocks.append(_paragraph(draft.inspection_intro))
    blocks.extend(_criterion(criterion) for criterion in draft.criteria)
    blocks.append(_RULE)  # the 版记 rules
    blocks.extend(_paragraph(line) for line in draft.distribution)
    blocks.append(_paragraph(draft.print_count))
    return "\n\n".join(blocks) + "\n"


def _criterion(criterion: DraftCriterion) -> str:
    # The label is bold with its 。, as in the reference and the .docx. Not as
    # **按时到岗情况。**总体: a closing ** between punctuation and a CJK letter is not
    # right-flanking, and CommonMark/GFM would print the asterisks. Raw inline HTML is
    # CommonMark too, and bolds exactly the label: （一）<b>按时到岗情况。</b>总体情况良好。
    label = _escape(_one_line(criterion.label))
    bold = f"<b>{label}</b>" if label else ""
    number = messages.bracketed(criterion.numeral)
    return _escape(number) + bold + _escape(_one_line(criterion.result))


def _paragraph(text: str) -> str:
    """Return `text` as one Markdown paragraph that renders literally."""
    return _escape_block_start(_escape(_one_line(text)))


def _one_line(text: str) -> str:
    # A line break inside a paragraph would let the next line start a heading or list.
    return _LINE_BREAK.sub(" ", text.strip())


def _escape(text: str) -> str:
    """Backslash-escape inline markup; only characters actually present get a backslash."""
    return _INLINE_SPECIAL.sub(r"\\\1", text)


def _escape_block_start(text: str) -> str:
    match = _BLOCK_START.match(text)
    if match is None:
        return text
    if match.group(1) is not None:
        return "\\" + text
    return f"{match.group(2)}\\{text[match.end(2) :]}"
