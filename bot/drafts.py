"""Write the current issue's compiled draft to files for the editor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.app import App
from bot.errors import BotError
from bot.files import safe_name
from bot.messages import NO_ISSUE
from handlers.bulletin import CompiledIssue, compile_issue
from storage.repositories import issues


@dataclass(frozen=True, slots=True)
class WrittenDraft:
    compiled: CompiledIssue
    docx_path: Path
    markdown_path: Path


async def write_draft(app: App, out_dir: Path, issue_date: date | None = None) -> WrittenDraft:
    """Compile the current issue (setting its issue date if given) into .docx and .md files."""
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        if issue is None:
            raise BotError(NO_ISSUE)
        if issue_date is not None:
            issue.issue_date = issue_date
        compiled = await compile_issue(
            session, issue, app.settings.template, issue.issue_date or app.clock().date()
        )
    # The name comes from the configured title: one file name, inside out_dir whatever it says.
    docx_path = out_dir / safe_name(compiled.filename(".docx"))
    markdown_path = out_dir / safe_name(compiled.filename(".md"))

    def write() -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        docx_path.write_bytes(compiled.docx)
        markdown_path.write_text(compiled.markdown, encoding="utf-8")

    await asyncio.to_thread(write)
    return WrittenDraft(compiled, docx_path, markdown_path)
