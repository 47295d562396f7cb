"""Window staff list their own items and edit or withdraw them until the issue closes."""

from __future__ import annotations

from handlers import messages
from handlers.common import ask, choice_id, excerpt, member_window, open_issue
from handlers.conversation import END, Conversation, Reply, State, StepContext, choice_or_text
from handlers.errors import InputRejected
from handlers.types import Incoming, Outgoing
from report.normalise import normalise_item
from storage.models import Item, ItemStatus
from storage.repositories import submissions

ITEM_PREFIX = "item:"
PREVIEW_CHARS = 40


async def own_item(ctx: StepContext, item_id: int) -> Item:
    """The item if it is a confirmed item of the member's window in the open issue."""
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    item = await submissions.get_item(ctx.session, item_id)
    if item is None or item.status != ItemStatus.CONFIRMED or item.issue_id != issue.id:
        raise InputRejected(messages.ITEM_GONE)
    if item.window_id != window.id:
        raise InputRejected(messages.NOT_YOUR_ITEM)
    return item


async def start_items(ctx: StepContext) -> Reply:
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    if not await submissions.window_items(ctx.session, issue.id, window.id):
        return Reply([Outgoing(messages.NO_ITEMS_YET)], END)
    return Reply([], "items.list")


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
        return Reply([], "menu.main")
    # Only an item the list offered passes own_item: confirmed, of the member's window, in the
    # open issue. A stale button gets ITEM_GONE, another window's item NOT_YOUR_ITEM.
    item = await own_item(ctx, choice_id(value, ITEM_PREFIX))
    ctx.data["item"] = item.id
    return Reply([], "items.action")


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
        return await _back_to_list(ctx)
    if value == "edit":
        ctx.data["edit_item"] = item.id
        ctx.data["subsection"] = item.subsection
        return Reply([], "intake.text")
    if value == "withdraw":
        await submissions.withdraw_item(ctx.session, item, ctx.now)
        remaining = await submissions.window_items(ctx.session, item.issue_id, item.window_id)
        return Reply([Outgoing(messages.WITHDRAWN)], "items.list" if remaining else END)
    raise InputRejected(messages.CHOOSE_NUMBER)


async def _back_to_list(ctx: StepContext) -> Reply:
    return Reply([], "items.list")


ITEMS = Conversation(
    name="items",
    states={
        "items.list": State(_prompt_list, _handle_list, messages.LIST_HELP),
        "items.action": State(
            _prompt_action, _handle_action, messages.ITEM_ACTION_HELP, back=_back_to_list
        ),
    },
)
