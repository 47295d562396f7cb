"""延长截止时间: the editor moves the issue's deadline (reopening a closed issue)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
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
from handlers.types import Incoming, Outgoing
from report.dates import format_moment
from storage.repositories import issues

UNTIL_PREFIX = "until:"


class DeadlineState(StrEnum):
    CHOOSE = "deadline.choose"


def when_label(moment: datetime, today: date | None = None) -> str:
    """The moment as 9月16日（周五）12:00, with its year when that is not `today`'s."""
    return format_moment(moment, with_year=today is not None and moment.year != today.year)


EXTENSION_TIMES = (time(12), time(18))  # on the working days after today
EXTENSION_CHOICES = 4
WORKDAYS_AHEAD = 30  # a holiday never lasts this long


def extension_choices(
    now: datetime, zone: ZoneInfo, is_workday: Callable[[date], bool]
) -> list[datetime]:
    """Deadlines an editor is likely to want, all on working days: in two hours and this
    evening (on a working day), then noon and evening of the next working days."""
    local = now.astimezone(zone)
    options: list[datetime] = []
    if is_workday(local.date()):
        in_two_hours = (local + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        if in_two_hours.date() == local.date():
            options.append(in_two_hours)
        options.append(datetime.combine(local.date(), time(18), zone))
    day = local.date()
    for _ in range(WORKDAYS_AHEAD):
        day += timedelta(days=1)
        if len({o for o in options if o > local}) >= EXTENSION_CHOICES:
            break
        if is_workday(day):
            options += [datetime.combine(day, at, zone) for at in EXTENSION_TIMES]
    return sorted({option for option in options if option > local})[:EXTENSION_CHOICES]


async def start_extend(ctx: StepContext) -> Reply:
    await latest_issue(ctx)
    return Reply([], DeadlineState.CHOOSE)


async def _prompt_deadline(ctx: StepContext) -> list[Outgoing]:
    zone = ZoneInfo(ctx.settings.timezone_name)
    today = ctx.now.astimezone(zone).date()
    issue = await latest_issue(ctx)
    current = (
        when_label(issue.deadline_at.astimezone(zone), today)
        if issue.deadline_at
        else messages.NONE
    )
    options = extension_choices(ctx.now, zone, ctx.settings.is_workday)
    return [
        ask(
            messages.ask_deadline(current),
            *((UNTIL_PREFIX + option.isoformat(), when_label(option, today)) for option in options),
        )
    ]


async def _handle_deadline(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    # Only a moment the prompt offered: a button's value comes back as the network sends it,
    # and a crafted until:2099-… (or a moment in the year 9999) must not become the deadline.
    if value not in offered_values(ctx) or not value.startswith(UNTIL_PREFIX):
        raise InputRejected(messages.CHOOSE_NUMBER)
    try:
        deadline = datetime.fromisoformat(value.removeprefix(UNTIL_PREFIX))
    except ValueError:
        raise InputRejected(messages.CHOOSE_NUMBER) from None
    if deadline.tzinfo is None:
        raise InputRejected(messages.CHOOSE_NUMBER)
    if deadline <= ctx.now:
        # Offered a while ago and passed since: the question again, with times from now.
        return Reply([Outgoing(messages.DEADLINE_IN_PAST)], DeadlineState.CHOOSE)
    issue = await latest_issue(ctx)
    await issues.set_deadline(ctx.session, issue, deadline)
    zone = ZoneInfo(ctx.settings.timezone_name)
    when = when_label(deadline.astimezone(zone), ctx.now.astimezone(zone).date())
    return Reply.to_menu([Outgoing(messages.deadline_moved(when))])


DEADLINE = Conversation(
    name="hall",  # stored with its states since the deadline shared a module with 窗口管理
    roles=EDITOR_ROLES,
    entries=(Entry("extend", messages.LABEL_EXTEND, start_extend, to=(DeadlineState.CHOOSE,)),),
    states={
        DeadlineState.CHOOSE: State(
            _prompt_deadline,
            _handle_deadline,
            messages.DEADLINE_HELP,
            to=(DeadlineState.CHOOSE, END),
        )
    },
)
