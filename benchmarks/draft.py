"""Draft compile: an issue of 30, 300 and 3,000 items to .docx and Markdown.

The peer is python-docx itself writing the same paragraphs into a bare `Document()` with no
styling: what any .docx of that draft costs at least. Target: 300 items in under one second
and no more than twice the bare time.
"""

from __future__ import annotations

import io
import random
import statistics
import time
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Final

from docx import Document

from benchmarks.corpus import item_text, window_name
from benchmarks.framework import Benchmark, Context, Row
from bot.config import Config, default_config_text
from report import messages
from report.bulletin import BulletinTemplate, Draft, Figures, IssueContent, ItemEntry
from report.compile import compile_draft
from report.render_docx import render_docx
from report.render_markdown import render_markdown

NAME: Final = "draft"
ITEMS_PER_WINDOW: Final = 5
TARGET_ITEMS: Final = 300
TARGET_MS: Final = 1000.0
TARGET_RATIO: Final = 2.0
FULL_SIZES: Final = (30, 300, 3000)
QUICK_SIZES: Final = (30, 300)
FULL_REPEATS: Final = 7
QUICK_REPEATS: Final = 1


def default_template() -> BulletinTemplate:
    """Return the template of the packaged default configuration (the reference bulletin)."""
    data = tomllib.loads(default_config_text())
    return Config.model_validate(data, context={"base_dir": Path.cwd()}).bulletin.to_template()


def issue_of(template: BulletinTemplate, item_count: int, seed: int = 31) -> IssueContent:
    """Return an issue of `item_count` items from item_count/5 windows, in print order."""
    rng = random.Random(seed)
    keys = [subsection.key for subsection in template.subsections]
    items = [
        ItemEntry(rng.choice(keys), window_name(index // ITEMS_PER_WINDOW), item_text(rng))
        for index in range(item_count)
    ]
    items.sort(key=lambda item: keys.index(item.subsection_key))  # stable: window order kept
    return IssueContent(
        year=2022,
        number=31,
        total_number=406,
        issue_date=date(2022, 10, 21),
        period_start=date(2022, 9, 13),
        period_end=date(2022, 9, 16),
        items=tuple(items),
        statistics={
            category.key: Figures(accepted=617058, completed=611244)
            for category in template.statistics_categories
        },
        verdicts={},
    )


def draft_paragraphs(draft: Draft) -> list[str]:
    """The paragraphs render_docx writes, as plain text (rules are empty paragraphs)."""
    lines = [
        draft.title,
        draft.issue_line,
        f"{draft.organisation}\t{draft.date_line}",
        draft.column_title,
        draft.period_line,
        draft.statistics_heading,
        draft.statistics_sentence,
        draft.news_heading,
    ]
    for subsection in draft.subsections:
        lines.append(messages.bracketed(subsection.numeral) + subsection.title)
        lines += [messages.bracketed(str(item.number)) + item.text for item in subsection.items]
    lines += [draft.inspection_heading, draft.inspection_intro]
    lines += [messages.bracketed(c.numeral) + c.label + c.result for c in draft.criteria]
    lines.append("")
    for recipient_line in draft.distribution:
        lines += [recipient_line, ""]
    lines += [draft.print_count, ""]
    return lines


def whole_draft(template: BulletinTemplate, issue: IssueContent) -> None:
    """What `zhoubao draft` does after reading the database: compile, .docx, Markdown."""
    draft = compile_draft(template, issue)
    render_docx(draft, io.BytesIO())
    render_markdown(draft)


def bare_docx(paragraphs: list[str]) -> None:
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(io.BytesIO())


def median_ms(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(context: Context, sizes: tuple[int, ...], repeats: int) -> list[Row]:
    template = default_template()
    # Warm up: the first Document() loads python-docx's default template and lxml's parsers.
    warm = issue_of(template, 10)
    whole_draft(template, warm)
    bare_docx(draft_paragraphs(compile_draft(template, warm)))

    rows: list[Row] = []
    for size in sizes:
        issue = issue_of(template, size)
        draft = compile_draft(template, issue)
        paragraphs = draft_paragraphs(draft)
        case = f"{size:,} items ({size // ITEMS_PER_WINDOW} windows × {ITEMS_PER_WINDOW})"
        bare = median_ms(lambda: bare_docx(paragraphs), repeats)  # noqa: B023 (called at once)
        whole = median_ms(lambda: whole_draft(template, issue), repeats)  # noqa: B023
        compile_ms = median_ms(lambda: compile_draft(template, issue), repeats)  # noqa: B023
        docx_ms = median_ms(lambda: render_docx(draft, io.BytesIO()), repeats)  # noqa: B023
        markdown_ms = median_ms(lambda: render_markdown(draft), repeats)  # noqa: B023
        targeted = size == TARGET_ITEMS
        rows += [
            Row(
                NAME,
                case,
                "whole draft, median",
                whole,
                "ms",
                "bound",
                TARGET_MS,
                f"< {TARGET_MS:.0f} ms" if targeted else None,
                whole < TARGET_MS if targeted else None,
            ),
            Row(
                NAME,
                case,
                "whole / bare python-docx",
                whole / bare,
                "×",
                "bare python-docx, ms",
                bare,
                f"≤ {TARGET_RATIO:.0f}×" if targeted else None,
                whole / bare <= TARGET_RATIO if targeted else None,
            ),
            Row(NAME, case, "compile_draft", compile_ms, "ms"),
            Row(NAME, case, "render_docx", docx_ms, "ms", "bare python-docx", bare),
            Row(NAME, case, "render_markdown", markdown_ms, "ms"),
        ]
    mode = "quick" if context.quick else "full"
    context.note(
        f"draft ({mode}): median of {repeats} run(s) per figure after one warm-up; "
        "whole draft = compile_draft + render_docx + render_markdown, from items in memory."
    )
    return rows


def run_quick(context: Context) -> list[Row]:
    return run(context, QUICK_SIZES, QUICK_REPEATS)


def run_full(context: Context) -> list[Row]:
    return run(context, FULL_SIZES, FULL_REPEATS)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
