"""The editor's control of the week: extend the deadline, reopen or exempt one window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers import messages
from handlers.common import EDITOR_ROLES, ask, choice_id, latest_issue, require_role
from handlers.conversation import (
    Conversation,
    Reply,
    State,
    StepContext,
    choice_or_text,
    offered_values,
)
from handlers.delivery import member_key
from handlers.errors import InputRejected
from handlers.types import Envelope, Incoming, Outgoing
from handlers.windows import WindowState, window_standings
from report.dates import format_moment
from storage.repositories import issues, members, submissions, windows

UNTIL_PREFIX = "until:"
WINDOW_PREFIX = "win:"
STATE_LABELS = {
    WindowState.SUBMITTED: messages.STATE_SUBMITTED,
    WindowState.NO_NEWS: messages.STATE_NO_NEWS,
    WindowState.EXEMPT: messages.STATE_EXEMPT,
    WindowState.SILENT: messages.STATE_SILENT,
}


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


# --- deadline ---


async def start_extend(ctx: StepContext) -> Reply:
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    await latest_issue(ctx)
    return Reply([], "deadline.choose")


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
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    if deadline <= ctx.now:
        # Offered a while ago and passed since: the question again, with times from now.
        return Reply([Outgoing(messages.DEADLINE_IN_PAST)], "deadline.choose")
    issue = await latest_issue(ctx)
    await issues.set_deadline(ctx.session, issue, deadline)
    zone = ZoneInfo(ctx.settings.timezone_name)
    when = when_label(deadline.astimezone(zone), ctx.now.astimezone(zone).date())
    return Reply([Outgoing(messages.deadline_moved(when))], "menu.main")


# --- one window ---


async def start_windows(ctx: StepContext) -> Reply:
    require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    await latest_issue(ctx)
    return Reply([], "hall.window")


async def _prompt_window(ctx: StepContext) -> list[Outgoing]:
    issue = await latest_issue(ctx)
    choices = [
        (f"{WINDOW_PREFIX}{s.window.id}", f"{s.window.name}（{STATE_LABELS[s.state]}）")
        for s in await window_standings(ctx.session, issue)
    ]
    return [ask(messages.ASK_WINDOW, *choices, ("back", messages.LABEL_BACK))]


async def _handle_window(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    if value == "back":
        return Reply([], "menu.main")
    # The list offers every active window: the same test as the one below.
    window = await windows.get_window(ctx.session, choice_id(value, WINDOW_PREFIX))
    if window is None or not window.active:
        raise InputRejected(messages.CHOOSE_NUMBER)
    ctx.data["window"] = window.id
    return Reply([], "hall.action")


async def _prompt_action(ctx: StepContext) -> list[Outgoing]:
    window = await windows.get_window(ctx.session, int(ctx.data["window"]))
    assert window is not None
    return [
        ask(
            messages.window_actions(window.name),
            ("reopen", messages.LABEL_REOPEN),
            ("exempt", messages.LABEL_EXEMPT),
            ("unexempt", messages.LABEL_UNEXEMPT),
            ("back", messages.LABEL_BACK),
        )
    ]


async def _handle_action(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    if value == "back":
        return Reply([], "hall.window")
    if value not in ("reopen", "exempt", "unexempt"):
        raise InputRejected(messages.CHOOSE_NUMBER)
    member_id = require_role(ctx, EDITOR_ROLES, messages.EDITOR_ONLY)
    issue = await latest_issue(ctx)
    window = await windows.get_window(ctx.session, int(ctx.data["window"]))
    assert window is not None
    if value == "reopen":
        await submissions.set_window_flags(
            ctx.session, issue.id, window.id, member_id, ctx.now, reopened=True
        )
        for staff in await members.members_of_window(ctx.session, window.id):
            ctx.send_to(Envelope(member_key(staff), Outgoing(messages.reopened(window.name))))
        done = messages.window_reopened(window.name)
    else:
        exempt = value == "exempt"
        await submissions.set_window_flags(
            ctx.session, issue.id, window.id, member_id, ctx.now, exempt=exempt
        )
        done = messages.window_exempt(window.name, exempt)
    return Reply([Outgoing(done)], "menu.main")


HALL = Conversation(
    name="hall",
    states={
        "deadline.choose": State(_prompt_deadline, _handle_deadline, messages.DEADLINE_HELP),
        "hall.window": State(_prompt_window, _handle_window, messages.WINDOWS_HELP),
        "hall.action": State(_prompt_action, _handle_action, messages.WINDOWS_HELP),
    },
)
