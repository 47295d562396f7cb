"""窗口管理: the editor reopens one window's intake, or exempts it this week."""

from __future__ import annotations

from enum import StrEnum

from handlers import messages
from handlers.conversations.common import EDITOR_ROLES, ask, choice_id, latest_issue, member_id
from handlers.errors import InputRejected
from handlers.framework.choices import choice_or_text
from handlers.framework.conversation import END, Conversation, Entry, Reply, State, StepContext
from handlers.services.delivery import member_key
from handlers.services.standings import WindowState, window_standings
from handlers.types import Envelope, Incoming, Outgoing
from storage.repositories import members, submissions, windows

WINDOW_PREFIX = "win:"
STATE_LABELS = {
    WindowState.SUBMITTED: messages.STATE_SUBMITTED,
    WindowState.NO_NEWS: messages.STATE_NO_NEWS,
    WindowState.EXEMPT: messages.STATE_EXEMPT,
    WindowState.SILENT: messages.STATE_SILENT,
}


class WindowControlState(StrEnum):
    WINDOW = "hall.window"
    ACTION = "hall.action"


async def start_windows(ctx: StepContext) -> Reply:
    await latest_issue(ctx)
    return Reply([], WindowControlState.WINDOW)


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
        return Reply.to_menu([])
    # The list offers every active window: the same test as the one below.
    window = await windows.get_window(ctx.session, choice_id(value, WINDOW_PREFIX))
    if window is None or not window.active:
        raise InputRejected(messages.CHOOSE_NUMBER)
    ctx.data["window"] = window.id
    return Reply([], WindowControlState.ACTION)


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
        return Reply([], WindowControlState.WINDOW)
    if value not in ("reopen", "exempt", "unexempt"):
        raise InputRejected(messages.CHOOSE_NUMBER)
    issue = await latest_issue(ctx)
    window = await windows.get_window(ctx.session, int(ctx.data["window"]))
    assert window is not None
    if value == "reopen":
        await submissions.set_window_flags(
            ctx.session, issue.id, window.id, member_id(ctx), ctx.now, reopened=True
        )
        for staff in await members.members_of_window(ctx.session, window.id):
            ctx.send_to(Envelope(member_key(staff), Outgoing(messages.reopened(window.name))))
        done = messages.window_reopened(window.name)
    else:
        exempt = value == "exempt"
        await submissions.set_window_flags(
            ctx.session, issue.id, window.id, member_id(ctx), ctx.now, exempt=exempt
        )
        done = messages.window_exempt(window.name, exempt)
    return Reply.to_menu([Outgoing(done)])


WINDOW_CONTROL = Conversation(
    name="hall",
    roles=EDITOR_ROLES,
    entries=(
        Entry("windows", messages.LABEL_WINDOWS, start_windows, to=(WindowControlState.WINDOW,)),
    ),
    states={
        WindowControlState.WINDOW: State(
            _prompt_window,
            _handle_window,
            messages.WINDOWS_HELP,
            to=(WindowControlState.ACTION, END),
        ),
        WindowControlState.ACTION: State(
            _prompt_action,
            _handle_action,
            messages.WINDOWS_HELP,
            to=(WindowControlState.WINDOW, END),
        ),
    },
)
