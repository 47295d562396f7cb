"""Closing an issue's intake and delivering its compiled draft to the editors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.services.delivery import enqueue, member_key
from handlers.services.issue_draft import (
    DOCX_MEDIA_TYPE,
    PDF_MEDIA_TYPE,
    Typesetter,
    compile_issue,
    docx_only,
)
from handlers.settings import monday_to_friday
from handlers.types import Document, Envelope, Outgoing
from report.bulletin import BulletinTemplate
from report.errors import DraftError
from report.messages import ISSUE_LINE
from storage.models import Issue, Member, Role
from storage.repositories import members


def working_days_from(start: date, is_workday: Callable[[date], bool]) -> Iterator[date]:
    """The working days from `start` on, for a year at most."""
    day = start
    for _ in range(366):  # a year without a working day is a broken calendar
        if is_workday(day):
            yield day
        day += timedelta(days=1)


def publication_day(issue: Issue, today: date, is_workday: Callable[[date], bool]) -> date:
    """The date printed on the issue: the one the editor chose, else the first working day
    from `today` on (a draft compiled on a Saturday is dated the Monday it can go out)."""
    if issue.issue_date is not None:
        return issue.issue_date
    return next(working_days_from(today, is_workday), today)


def issue_line(issue: Issue) -> str:
    return ISSUE_LINE.format(year=issue.year, number=issue.number, total=issue.total_number)


async def editors(session: AsyncSession) -> list[Member]:
    """Everyone who receives drafts and editor notices: editors and administrators."""
    found = await members.members_with_role(session, Role.EDITOR)
    return found + await members.members_with_role(session, Role.ADMIN)


async def draft_messages(
    session: AsyncSession,
    issue: Issue,
    template: BulletinTemplate,
    now: datetime,
    typeset: Typesetter = docx_only,
    is_workday: Callable[[date], bool] = monday_to_friday,
) -> list[Outgoing]:
    """The draft as a .docx with its summary, then its PDF where one could be laid out.

    DraftError when it cannot be compiled yet.
    """
    day = publication_day(issue, now.date(), is_workday)
    compiled = await compile_issue(session, issue, template, day, typeset)
    counts = [messages.subsection_count(title, n) for title, n in compiled.subsection_counts]
    document = Document(compiled.filename(".docx"), compiled.docx, DOCX_MEDIA_TYPE)
    text = messages.draft_ready(issue_line(issue), counts, list(compiled.silent_windows))
    if compiled.no_pdf is not None:
        text += "\n" + messages.NO_PDF[compiled.no_pdf]
    sent = [Outgoing(text, document=document)]
    if compiled.pdf is not None:
        pdf = Document(compiled.filename(".pdf"), compiled.pdf, PDF_MEDIA_TYPE)
        sent.append(Outgoing(messages.draft_pdf(issue_line(issue)), document=pdf))
    return sent


async def draft_or_refusal(
    session: AsyncSession,
    issue: Issue,
    template: BulletinTemplate,
    now: datetime,
    typeset: Typesetter = docx_only,
    is_workday: Callable[[date], bool] = monday_to_friday,
) -> list[Outgoing]:
    """The draft's messages, or the one message saying why it cannot be made yet. Reads only."""
    try:
        return await draft_messages(session, issue, template, now, typeset, is_workday)
    except DraftError as error:
        return [Outgoing(messages.draft_failed(issue_line(issue), error.user_message))]


async def queue_draft(
    session: AsyncSession, issue: Issue, sent: list[Outgoing], now: datetime, version: str
) -> int:
    """Queue the draft's messages to every editor once per `version`; return how many."""
    queued = 0
    for index, message in enumerate(sent):
        # The .docx keeps the key it always had; the PDF is a second message of its own.
        key = f"draft:{issue.id}:{version}" + (f":{index}" if index else "")
        queued += await notify_editors(session, message, key, now)
    return queued


async def notify_editors(session: AsyncSession, message: Outgoing, key: str, now: datetime) -> int:
    """Queue `message` to every editor once per `key`; return how many were queued."""
    queued = 0
    for member in await editors(session):
        envelope = Envelope(member_key(member), message, f"{key}:{member.id}")
        queued += await enqueue(session, envelope, now)
    return queued
