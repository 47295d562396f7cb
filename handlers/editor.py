"""The editor's commands: the issue's status, reminders, the order of items, the draft."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.bulletin import issue_content
from handlers.common import EDITOR_ROLES, ask, excerpt, latest_issue, period_of, require_role
from handlers.conversation import (
    END,
    Conversation,
    Reply,
    State,
    StepContext,
    choice_or_text,
    offered_values,
)
from handlers.drafts import draft_messages, issue_line, working_days_from
from handlers.errors import InputRejected
from handlers.prompts import PromptKind, send_prompts
from handlers.types import Incoming, Outgoing
from handlers.windows import WindowState, window_standings
from report.compile import compile_draft
from report.dates import format_date, format_moment
from report.errors import DraftError
from report.messages import WEEKDAYS
from report.normalise import FULL_WIDTH_DIGITS
from storage.models import Issue
from storage.repositories import outbox, submissions

SUBSECTION_PREFIX = "sub:"
PREVIEW_CHARS = 30


def state_line(issue: Issue, zone: ZoneInfo) -> str:
    """Open until when, closed since when, or published."""

    def shown(moment: datetime | None) -> str | None:
        return None if moment is None else format_moment(moment.astimezone(zone))

    return messages.issue_state(issue.status, shown(issue.deadline_at), shown(issue.closed_at))


async def status_text(session: AsyncSession, issue: Issue, zone: ZoneInfo) -> str:
    """The issue's state and which windows submitted, said 本周无动态, are exempt or silent
    (editor and CLI)."""
    standings = await window_standings(session, issue)

    def named(state: WindowState) -> list[str]:
        return [s.window.name for s in standings if s.state == state]

    text = messages.status_report(
        issue_line(issue),
        period_of(issue),
        named(WindowState.SUBMITTED),
        named(WindowState.NO_NEWS),
        named(WindowState.SILENT),
        sum(s.item_count for s in standings),
        named(WindowState.EXEMPT),
        state_line(issue, zone),
    )
    failed = await outbox.failed_count(session)
    return text + ("\n" + messages.sends_failed(failed) if failed else "")


async def show_status(ctx: StepContext) -> Reply:
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    issue = await latest_issue(ctx)
    zone = ZoneInfo(ctx.settings.timezone_name)
    return Reply([Outgoing(await status_text(ctx.session, issue, zone))], "menu.main")


async def remind_now(ctx: StepContext) -> Reply:
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    issue = await latest_issue(ctx)
    sent = await send_prompts(ctx.session, issue, PromptKind.REMIND, ctx.now)
    return Reply([Outgoing(messages.reminded(sent.reached, sent.unbound))], "menu.main")


async def compile_now(ctx: StepContext) -> Reply:
    """生成草稿: say at once what keeps the issue from printing, else ask the issue date."""
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    issue = await latest_issue(ctx)
    today = ctx.now.astimezone(ZoneInfo(ctx.settings.timezone_name)).date()
    content = await issue_content(ctx.session, issue, ctx.settings.template, today)
    try:
        compile_draft(ctx.settings.template, content)
    except DraftError as error:
        raise InputRejected(error.user_message) from error
    return Reply([], "compile.date")


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
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
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
    states={"compile.date": State(_prompt_date, _handle_date, messages.COMPILE_HELP)},
)


async def start_order(ctx: StepContext) -> Reply:
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    issue = await latest_issue(ctx)
    if not await submissions.issue_items(ctx.session, issue.id):
        return Reply([Outgoing(messages.NOTHING_TO_ORDER)], "menu.main")
    return Reply([], "order.subsection")


async def _prompt_subsection(ctx: StepContext) -> list[Outgoing]:
    issue = await latest_issue(ctx)
    used = {item.subsection for item, _ in await submissions.issue_items(ctx.session, issue.id)}
    choices = [
        (SUBSECTION_PREFIX + sub.key, sub.title)
        for sub in ctx.settings.template.subsections
        if sub.key in used
    ]
    return [ask(messages.ORDER_ASK_SUBSECTION, *choices)]


async def _handle_subsection(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    # Only a subsection the prompt offered, one with items: an empty one has no order to set.
    if value not in offered_values(ctx) or not value.startswith(SUBSECTION_PREFIX):
        raise InputRejected(messages.CHOOSE_NUMBER)
    ctx.data["subsection"] = value.removeprefix(SUBSECTION_PREFIX)
    return Reply([], "order.list")


async def _ordered_ids(ctx: StepContext, issue: Issue) -> dict[str, list[int]]:
    """Item ids of each subsection in the current print order."""
    grouped: dict[str, list[int]] = {}
    for item, _ in await submissions.issue_items(ctx.session, issue.id):
        grouped.setdefault(item.subsection, []).append(item.id)
    return grouped


async def _prompt_list(ctx: StepContext) -> list[Outgoing]:
    issue = await latest_issue(ctx)
    rows = [
        (item, window)
        for item, window in await submissions.issue_items(ctx.session, issue.id)
        if item.subsection == ctx.data["subsection"]
    ]
    lines = [
        f"（{number}）{window.name}：{excerpt(item.text, PREVIEW_CHARS)}"
        for number, (item, window) in enumerate(rows, start=1)
    ]
    return [Outgoing(messages.order_list(lines))]


async def _handle_list(ctx: StepContext, update: Incoming) -> Reply:
    # Asked again here: the step may have been saved before the member's role changed.
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    issue = await latest_issue(ctx)
    grouped = await _ordered_ids(ctx, issue)
    current = grouped.get(str(ctx.data["subsection"]), [])
    words = (
        (update.text or "")
        .translate(FULL_WIDTH_DIGITS)
        .replace("，", " ")
        .replace(",", " ")
        .replace("、", " ")
        .split()
    )
    # A number longer than the list is long is none of its positions (and int() refuses one
    # of more than 4,300 digits with an error).
    most = len(str(len(current)))
    wanted = [int(w) for w in words if w.isdecimal() and w.isascii() and len(w) <= most]
    if (
        not current
        or len(words) != len(wanted)
        or sorted(wanted) != list(range(1, len(current) + 1))
    ):
        raise InputRejected(messages.order_bad(len(current)))
    grouped[str(ctx.data["subsection"])] = [current[n - 1] for n in wanted]
    # Positions are global, so write the whole issue's order in template order.
    ordered = [
        item_id for sub in ctx.settings.template.subsections for item_id in grouped.get(sub.key, [])
    ]
    await submissions.set_positions(ctx.session, ordered)
    return Reply([Outgoing(messages.ORDER_SAVED)], "menu.main")


async def _back_to_subsection(ctx: StepContext) -> Reply:
    return Reply([], "order.subsection")


ORDER = Conversation(
    name="order",
    states={
        "order.subsection": State(_prompt_subsection, _handle_subsection, messages.ORDER_HELP),
        "order.list": State(
            _prompt_list, _handle_list, messages.ORDER_HELP, back=_back_to_subsection
        ),
    },
)
