"""Write the current issue's compiled draft to files for the editor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.app import App
from bot.errors import BotError
from bot.files import safe_name
from bot.messages import DRAFT_NO_PDF, DRAFT_PDF, DRAFT_WRITTEN, NO_ISSUE
from handlers.services.draft_delivery import publication_day
from handlers.services.issue_draft import CompiledIssue, compile_issue
from storage.repositories import issues


@dataclass(frozen=True, slots=True)
class WrittenDraft:
    compiled: CompiledIssue
    docx_path: Path
    markdown_path: Path
    pdf_path: Path | None  # None: no PDF (compiled.no_pdf says why)


def written_text(written: WrittenDraft) -> str:
    """Where the draft's files are, and why there is no PDF if there is none."""
    lines = [DRAFT_WRITTEN.format(docx=written.docx_path, markdown=written.markdown_path)]
    if written.pdf_path is not None:
        lines.append(DRAFT_PDF.format(pdf=written.pdf_path))
    elif written.compiled.no_pdf is not None:
        lines.append(DRAFT_NO_PDF[written.compiled.no_pdf])
    return "\n".join(lines)


async def write_draft(app: App, out_dir: Path, issue_date: date | None = None) -> WrittenDraft:
    """Compile the current issue (setting its issue date if given) into .docx, .md and .pdf."""
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        if issue is None:
            raise BotError(NO_ISSUE)
        if issue_date is not None:
            issue.issue_date = issue_date
        compiled = await compile_issue(
            session,
            issue,
            app.settings.template,
            publication_day(issue, app.clock().date(), app.calendar.is_workday),
            app.settings.typeset,
        )
    # The name comes from the configured title: one file name, inside out_dir whatever it says.
    docx_path = out_dir / safe_name(compiled.filename(".docx"))
    markdown_path = out_dir / safe_name(compiled.filename(".md"))
    pdf_path = None if compiled.pdf is None else out_dir / safe_name(compiled.filename(".pdf"))

    def write() -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        docx_path.write_bytes(compiled.docx)
        markdown_path.write_text(compiled.markdown, encoding="utf-8")
        if pdf_path is not None and compiled.pdf is not None:
            pdf_path.write_bytes(compiled.pdf)

    await asyncio.to_thread(write)
    return WrittenDraft(compiled, docx_path, markdown_path, pdf_path)
