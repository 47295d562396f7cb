"""退回动态: the editor returns an item to its window with a comment; the window revises it.

The editor picks one of the issue's items and writes a comment. The window's staff get the
item and the comment with a button (按意见修改) that starts the revision from wherever they
are; the text they send replaces the item (the old one is kept as a revision), and the
editors are told.
"""

from __future__ import annotations

from enum import StrEnum

from handlers import messages
from handlers.conversations.common import (
    EDITOR_ROLES,
    STAFF_ROLES,
    ask,
    choice_id,
    latest_items,
    member_id,
    member_window,
    own_item,
    require_text,
    window_item_line,
)
from handlers.conversations.intake import item_text
from handlers.errors import InputRejected
from handlers.framework.choices import choice_or_text
from handlers.framework.conversation import (
    END,
    Conversation,
    Entry,
    Reply,
    State,
    StepContext,
    back_to,
    offered_values,
)
from handlers.framework.menu import offer_at_menu
from handlers.services.delivery import member_key
from handlers.services.draft_delivery import notify_editors
from handlers.types import Choice, Envelope, Incoming, Outgoing
from report.normalise import normalise_item
from storage.models import ItemStatus
from storage.repositories import members, submissions

ITEM_PREFIX = "item:"
REVISE = "revise"  # the staff's button: revise:<item id>
PREVIEW_CHARS = 30
MAX_COMMENT_CHARS = 1000


class ReturnState(StrEnum):
    PICK = "return.pick"
    COMMENT = "return.comment"


class ReviseState(StrEnum):
    REVISE = "return.revise"


# --- the editor ---


async def start_return(ctx: StepContext) -> Reply:
    if not await latest_items(ctx):
        return Reply.to_menu([Outgoing(messages.NOTHING_TO_RETURN)])
    return Reply([], ReturnState.PICK)


async def _prompt_pick(ctx: StepContext) -> list[Outgoing]:
    rows = await latest_items(ctx)
    lines = [
        window_item_line(number, window, item, PREVIEW_CHARS)
        for number, (item, window) in enumerate(rows, start=1)
    ]
    choices = [
        (f"{ITEM_PREFIX}{item.id}", messages.item_choice(number))
        for number, (item, _) in enumerate(rows, start=1)
    ]
    return [ask(messages.return_list(lines), *choices, ("back", messages.LABEL_BACK))]


async def _pick(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    if value == "back":
        return Reply.to_menu([])
    if value not in offered_values(ctx):
        raise InputRejected(messages.CHOOSE_NUMBER)
    ctx.data["item"] = choice_id(value, ITEM_PREFIX)
    await _returnable(ctx)
    return Reply([], ReturnState.COMMENT)


async def _returnable(ctx: StepContext) -> tuple[str, str]:
    """The chosen item's window name and printed text, while it is a confirmed item."""
    for item, window in await latest_items(ctx):
        if item.id == ctx.data["item"]:
            return window.name, normalise_item(item.text)
    raise InputRejected(messages.ITEM_GONE)


async def _prompt_comment(ctx: StepContext) -> list[Outgoing]:
    window_name, text = await _returnable(ctx)
    return [Outgoing(messages.return_ask_comment(window_name, text))]


async def _comment(ctx: StepContext, update: Incoming) -> Reply:
    comment = require_text(update)
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputRejected(messages.text_too_long(MAX_COMMENT_CHARS, len(comment)))
    window_name, text = await _returnable(ctx)
    item = await submissions.get_item(ctx.session, int(ctx.data["item"]))
    assert item is not None and item.status == ItemStatus.CONFIRMED  # _returnable found it
    notice = Outgoing(
        messages.returned_to_window(text, normalise_item(comment)),
        (Choice(f"{REVISE}:{item.id}", messages.LABEL_REVISE),),
    )
    for staff in await members.members_of_window(ctx.session, item.window_id):
        ctx.send_to(Envelope(member_key(staff), notice))
        await offer_at_menu(ctx.session, member_key(staff), notice.choices, ctx.now)
    return Reply.to_menu([Outgoing(messages.item_returned(window_name))])


# --- the window ---


async def start_revise(ctx: StepContext) -> Reply:
    """按意见修改: only an item of the member's own window, while the window may change it
    (the issue open, or the window reopened): the same test as 查看/修改已交动态."""
    item = await own_item(ctx, choice_id(ctx.argument, ""))
    ctx.data["item"] = item.id
    ctx.data["subsection"] = item.subsection  # item_text names it in a refusal
    return Reply([], ReviseState.REVISE)


async def _prompt_revise(ctx: StepContext) -> list[Outgoing]:
    item = await own_item(ctx, int(ctx.data["item"]))
    return [Outgoing(messages.revise_ask(normalise_item(item.text)))]


async def _revise(ctx: StepContext, update: Incoming) -> Reply:
    if update.choice is not None:  # a button of an older message: not the revised text
        raise InputRejected(messages.EMPTY_MESSAGE)
    text = item_text(ctx, update)
    item = await own_item(ctx, int(ctx.data["item"]))
    await submissions.revise_item(
        ctx.session,
        item,
        text=text,
        subsection=item.subsection,
        editor_id=member_id(ctx),
        now=ctx.now,
    )
    window = await member_window(ctx)
    notice = Outgoing(messages.item_revised(window.name, normalise_item(text)))
    revision = len(await submissions.item_revisions(ctx.session, item.id))
    await notify_editors(ctx.session, notice, f"revised:{item.id}:{revision}", ctx.now)
    return Reply([Outgoing(messages.REVISED)], END)


RETURN_ITEM = Conversation(
    name="return",
    roles=EDITOR_ROLES,
    entries=(
        Entry(
            "return",
            messages.LABEL_RETURN,
            start_return,
            to=(ReturnState.PICK, END),
            keywords=("退回",),
        ),
    ),
    states={
        ReturnState.PICK: State(
            _prompt_pick, _pick, messages.RETURN_PICK_HELP, to=(ReturnState.COMMENT, END)
        ),
        ReturnState.COMMENT: State(
            _prompt_comment,
            _comment,
            messages.RETURN_COMMENT_HELP,
            to=(END, ReturnState.PICK),
            back=back_to(ReturnState.PICK),
        ),
    },
)
REVISE_RETURNED = Conversation(
    name="revise",
    roles=STAFF_ROLES,
    entries=(
        Entry(REVISE, messages.LABEL_REVISE, start_revise, to=(ReviseState.REVISE,), on_menu=False),
    ),
    states={
        ReviseState.REVISE: State(_prompt_revise, _revise, messages.REVISE_HELP, to=(END,)),
    },
)
RETURN_FLOW = (RETURN_ITEM, REVISE_RETURNED)  # the editor's side and the window's
