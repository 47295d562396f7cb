"""Closing an issue's intake and delivering its compiled draft to the editors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.bulletin import DOCX_MEDIA_TYPE, compile_issue
from handlers.delivery import enqueue, member_key
from handlers.types import Document, Envelope, Outgoing
from report.bulletin import BulletinTemplate
from report.errors import DraftError
from report.messages import ISSUE_LINE
from storage.models import Issue, Member, Role
from storage.repositories import members


def issue_line(issue: Issue) -> str:
    return ISSUE_LINE.format(year=issue.year, number=issue.number, total=issue.total_number)


async def editors(session: AsyncSession) -> list[Member]:
    """Everyone who receives drafts and editor notices: editors and administrators."""
    found = await members.members_with_role(session, Role.EDITOR)
    return found + await members.members_with_role(session, Role.ADMIN)


async def draft_message(
    session: AsyncSession, issue: Issue, template: BulletinTemplate, now: datetime
) -> Outgoing:
    """The draft as a document with its summary; DraftError when it cannot be compiled yet."""
    compiled = await compile_issue(session, issue, template, issue.issue_date or now.date())
    counts = [messages.subsection_count(title, n) for title, n in compiled.subsection_counts]
    document = Document(compiled.filename(".docx"), compiled.docx, DOCX_MEDIA_TYPE)
    text = messages.draft_ready(issue_line(issue), counts, list(compiled.silent_windows))
    return Outgoing(text, document=document)


async def deliver_draft(
    session: AsyncSession, issue: Issue, template: BulletinTemplate, now: datetime, version: str
) -> int:
    """Queue the draft to every editor once per `version`; return how many were queued."""
    try:
        message = await draft_message(session, issue, template, now)
    except DraftError as error:
        message = Outgoing(messages.draft_failed(issue_line(issue), error.user_message))
    return await notify_editors(session, message, f"draft:{issue.id}:{version}", now)


async def notify_editors(session: AsyncSession, message: Outgoing, key: str, now: datetime) -> int:
    """Queue `message` to every editor once per `key`; return how many were queued."""
    queued = 0
    for member in await editors(session):
        envelope = Envelope(member_key(member), message, f"{key}:{member.id}")
        queued += await enqueue(session, envelope, now)
    return queued
