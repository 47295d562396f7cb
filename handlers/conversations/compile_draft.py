"""生成草稿: the editor chooses the issue date and gets the draft."""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from handlers import messages
from handlers.conversations.common import EDITOR_ROLES, ask, latest_issue
from handlers.errors import InputRejected
from handlers.framework.choices import choice_or_text
from handlers.framework.conversation import (
    END,
    Conversation,
    Entry,
    Reply,
    State,
    StepContext,
    offered_values,
)
from handlers.services.draft_delivery import draft_messages, working_days_from
from handlers.services.issue_draft import issue_content
from handlers.types import Incoming, Outgoing
from report.compile import compile_draft
from report.dates import format_date
from report.errors import DraftError
from report.messages import WEEKDAYS
from report.normalise import FULL_WIDTH_DIGITS


class CompileState(StrEnum):
    DATE = "compile.date"


async def compile_now(ctx: StepContext) -> Reply:
    """生成草稿: say at once what keeps the issue from printing, else ask the issue date."""
    issue = await latest_issue(ctx)
    today = ctx.now.astimezone(ZoneInfo(ctx.settings.timezone_name)).date()
    content = await issue_content(ctx.session, issue, ctx.settings.template, today)
    try:
        compile_draft(ctx.settings.template, content)
    except DraftError as error:
        raise InputRejected(error.user_message) from error
    return Reply([], CompileState.DATE)


DATE_PREFIX = "date:"
DATE_CHOICES = 3
_TYPED_DATE_RE = re.compile(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def _date_label(day: date) -> str:
    return f"{format_date(day)}（{WEEKDAYS[day.weekday()]}）"


async def _prompt_date(ctx: StepContext) -> list[Outgoing]:
    """The issue date chosen before, then the next working days from today."""
    issue = await latest_issue(ctx)
    today = ctx.now.astimezone(ZoneInfo(ctx.settings.timezone_name)).date()
    days = [] if issue.issue_date is None else [issue.issue_date]
    for day in working_days_from(today, ctx.settings.is_workday):
        if len(days) == DATE_CHOICES:
            break
        if day not in days:
            days.append(day)
    choices = [(DATE_PREFIX + day.isoformat(), _date_label(day)) for day in days]
    return [ask(messages.COMPILE_ASK_DATE, *choices)]


DATE_BEHIND = timedelta(days=31)  # an issue dated back to last month is still plausible
DATE_AHEAD = timedelta(days=62)


def _parse_date(value: str, today: date) -> date | None:
    if value.startswith(DATE_PREFIX):
        value = value[len(DATE_PREFIX) :]
    match = _TYPED_DATE_RE.fullmatch(value.translate(FULL_WIDTH_DIGITS).strip())
    if match is None:
        return None
    year = int(match.group(1)) if match.group(1) else today.year
    try:
        return date(year, int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


async def _handle_date(ctx: StepContext, update: Incoming) -> Reply:
    issue = await latest_issue(ctx)
    today = ctx.now.astimezone(ZoneInfo(ctx.settings.timezone_name)).date()
    if update.choice is not None and update.choice not in offered_values(ctx):
        raise InputRejected(messages.COMPILE_BAD_DATE)  # a button this step never showed
    day = _parse_date(choice_or_text(update), today)
    if day is None:
        raise InputRejected(messages.COMPILE_BAD_DATE)
    # A typed date is an issue date only near today: a year's slip is a typing mistake.
    if not today - DATE_BEHIND <= day <= today + DATE_AHEAD:
        raise InputRejected(messages.COMPILE_DATE_FAR)
    if not ctx.settings.is_workday(day):
        raise InputRejected(messages.compile_not_workday(_date_label(day)))
    issue.issue_date = day
    try:
        sent = await draft_messages(
            ctx.session, issue, ctx.settings.template, ctx.now, ctx.settings.typeset
        )
    except DraftError as error:
        raise InputRejected(error.user_message) from error
    return Reply(sent, END)


COMPILE = Conversation(
    name="compile",
    roles=EDITOR_ROLES,
    entries=(
        Entry(
            "compile",
            messages.LABEL_COMPILE,
            compile_now,
            to=(CompileState.DATE,),
            keywords=("草稿",),
        ),
    ),
    states={CompileState.DATE: State(_prompt_date, _handle_date, messages.COMPILE_HELP, to=(END,))},
)
