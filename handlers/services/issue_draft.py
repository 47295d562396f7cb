"""Map a stored issue to the report's inputs and compile it into a draft."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.services.standings import WindowState, window_standings
from report.bulletin import BulletinTemplate, Draft, Figures, IssueContent, ItemEntry
from report.compile import compile_draft
from report.render_docx import render_docx
from report.render_markdown import render_markdown
from storage.models import Issue
from storage.repositories import figures, submissions

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_MEDIA_TYPE = "application/pdf"


class NoPdf(StrEnum):
    """Why a draft comes without its PDF."""

    NO_OFFICE = "no_office"  # LibreOffice is not installed
    FAILED = "failed"  # LibreOffice failed or took too long


@dataclass(frozen=True, slots=True)
class Typeset:
    """A draft's .docx and, where it could be laid out, its PDF."""

    docx: bytes
    pdf: bytes | None = None
    no_pdf: NoPdf | None = None  # None with no PDF: configured without one ([draft] pdf)


# Lays a draft out; `bot` passes one that runs LibreOffice (bot/typeset.py).
Typesetter = Callable[[Draft], Awaitable[Typeset]]


async def docx_only(draft: Draft) -> Typeset:
    """The .docx alone, for where nothing lays the draft out."""
    stream = io.BytesIO()
    # python-docx is CPU-bound and synchronous: keep the event loop free.
    await asyncio.to_thread(render_docx, draft, stream)
    return Typeset(stream.getvalue())


@dataclass(frozen=True, slots=True)
class CompiledIssue:
    draft: Draft
    markdown: str
    docx: bytes
    pdf: bytes | None  # None where LibreOffice is missing or failed: see no_pdf
    no_pdf: NoPdf | None
    silent_windows: tuple[str, ...]  # told to the editor, never printed
    subsection_counts: tuple[tuple[str, int], ...]  # (title, items) in print order

    def filename(self, suffix: str) -> str:
        """Return e.g. 窗口工作周报-2022年第31期.docx."""
        return f"{self.draft.title}-{self.draft.issue_line.split('（')[0]}{suffix}"


async def issue_content(
    session: AsyncSession, issue: Issue, template: BulletinTemplate, issue_date: date
) -> IssueContent:
    rows = await submissions.issue_items(session, issue.id)
    known = {sub.key for sub in template.subsections}
    items = tuple(
        ItemEntry(subsection_key=item.subsection, window_name=window.name, text=item.text)
        for item, window in rows
        if item.subsection in known
    )
    stats = await figures.statistics(session, issue.id)
    return IssueContent(
        year=issue.year,
        number=issue.number,
        total_number=issue.total_number,
        issue_date=issue_date,
        period_start=issue.period_start,
        period_end=issue.period_end,
        items=items,
        statistics={key: Figures(a, c) for key, (a, c) in stats.items()},
        verdicts=await figures.verdicts(session, issue.id),
    )


async def compile_issue(
    session: AsyncSession,
    issue: Issue,
    template: BulletinTemplate,
    issue_date: date,
    typeset: Typesetter = docx_only,
) -> CompiledIssue:
    """Compile the issue; raises report.errors.DraftError when it cannot be printed yet."""
    content = await issue_content(session, issue, template, issue_date)
    draft = compile_draft(template, content)
    laid_out = await typeset(draft)
    standings = await window_standings(session, issue)
    return CompiledIssue(
        draft=draft,
        markdown=render_markdown(draft),
        docx=laid_out.docx,
        pdf=laid_out.pdf,
        no_pdf=laid_out.no_pdf,
        silent_windows=tuple(s.window.name for s in standings if s.state == WindowState.SILENT),
        subsection_counts=tuple((sub.title, len(sub.items)) for sub in draft.subsections),
    )
