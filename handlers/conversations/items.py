"""Window staff list their own items and edit or withdraw them until the issue closes."""

from __future__ import annotations

from enum import StrEnum


class ItemsState(StrEnum):
    # Defined before the imports: intake.py imports it, and this module imports intake.py's.
    LIST = "items.list"
    ACTION = "items.action"


from handlers import messages  # noqa: E402
from handlers.conversations.common import (  # noqa: E402
    STAFF_ROLES,
    ask,
    choice_id,
    excerpt,
    member_window,
    open_issue,
    own_item,
)
from handlers.conversations.intake import IntakeState  # noqa: E402
from handlers.errors import InputRejected  # noqa: E402
from handlers.framework.choices import choice_or_text  # noqa: E402
from handlers.framework.conversation import (  # noqa: E402
    END,
    Conversation,
    Entry,
    Reply,
    State,
    StepContext,
    back_to,
)
from handlers.types import Incoming, Outgoing  # noqa: E402
from report.normalise import normalise_item  # noqa: E402
from storage.repositories import submissions  # noqa: E402

ITEM_PREFIX = "item:"
PREVIEW_CHARS = 40


async def start_items(ctx: StepContext) -> Reply:
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    if not await submissions.window_items(ctx.session, issue.id, window.id):
        return Reply([Outgoing(messages.NO_ITEMS_YET)], END)
    return Reply([], ItemsState.LIST)


async def _prompt_list(ctx: StepContext) -> list[Outgoing]:
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    items = await submissions.window_items(ctx.session, issue.id, window.id)
    if not items:
        return [Outgoing(messages.NO_ITEMS_YET)]
    template = ctx.settings.template
    lines = [
        messages.item_line(
            i, template.subsection(item.subsection).title, excerpt(item.text, PREVIEW_CHARS)
        )
        for i, item in enumerate(items, start=1)
    ]
    choices = [
        (f"{ITEM_PREFIX}{item.id}", messages.item_choice(i))
        for i, item in enumerate(items, start=1)
    ]
    return [ask(messages.item_list(lines), *choices, ("back", messages.LABEL_BACK))]


async def _handle_list(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    if value == "back":
        return Reply.to_menu([])
    # Only an item the list offered passes own_item: confirmed, of the member's window, in the
    # open issue. A stale button gets ITEM_GONE, another window's item NOT_YOUR_ITEM.
    item = await own_item(ctx, choice_id(value, ITEM_PREFIX))
    ctx.data["item"] = item.id
    return Reply([], ItemsState.ACTION)


async def _prompt_action(ctx: StepContext) -> list[Outgoing]:
    item = await own_item(ctx, int(ctx.data["item"]))
    return [
        ask(
            messages.ITEM_ACTION.format(text=normalise_item(item.text)),
            ("edit", messages.LABEL_EDIT),
            ("withdraw", messages.LABEL_WITHDRAW),
            ("back", messages.LABEL_BACK),
        )
    ]


async def _handle_action(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    item = await own_item(ctx, int(ctx.data["item"]))
    if value == "back":
        return Reply([], ItemsState.LIST)
    if value == "edit":
        ctx.data["edit_item"] = item.id
        ctx.data["subsection"] = item.subsection
        return Reply([], IntakeState.TEXT)
    if value == "withdraw":
        await submissions.withdraw_item(ctx.session, item, ctx.now)
        remaining = await submissions.window_items(ctx.session, item.issue_id, item.window_id)
        return Reply([Outgoing(messages.WITHDRAWN)], ItemsState.LIST if remaining else END)
    raise InputRejected(messages.CHOOSE_NUMBER)


ITEMS = Conversation(
    name="items",
    roles=STAFF_ROLES,
    entries=(
        Entry(
            "my_items",
            messages.LABEL_MY_ITEMS,
            start_items,
            to=(ItemsState.LIST, END),
            keywords=("我的动态", "修改", "撤回"),
        ),
    ),
    states={
        ItemsState.LIST: State(
            _prompt_list, _handle_list, messages.LIST_HELP, to=(ItemsState.ACTION, END)
        ),
        ItemsState.ACTION: State(
            _prompt_action,
            _handle_action,
            messages.ITEM_ACTION_HELP,
            to=(ItemsState.LIST, IntakeState.TEXT, END),
            back=back_to(ItemsState.LIST),
        ),
    },
)
