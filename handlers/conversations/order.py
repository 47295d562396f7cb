"""调整动态顺序: the editor sets the order of a subsection's items."""

from __future__ import annotations

from enum import StrEnum

from handlers import messages
from handlers.conversations.common import (
    EDITOR_ROLES,
    ask,
    latest_issue,
    latest_items,
    window_item_line,
)
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
from handlers.types import Incoming, Outgoing
from report.normalise import FULL_WIDTH_DIGITS
from storage.models import Issue
from storage.repositories import submissions

SUBSECTION_PREFIX = "sub:"
PREVIEW_CHARS = 30


class OrderState(StrEnum):
    SUBSECTION = "order.subsection"
    LIST = "order.list"


async def start_order(ctx: StepContext) -> Reply:
    if not await latest_items(ctx):
        return Reply.to_menu([Outgoing(messages.NOTHING_TO_ORDER)])
    return Reply([], OrderState.SUBSECTION)


async def _prompt_subsection(ctx: StepContext) -> list[Outgoing]:
    used = {item.subsection for item, _ in await latest_items(ctx)}
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
    return Reply([], OrderState.LIST)


async def _ordered_ids(ctx: StepContext, issue: Issue) -> dict[str, list[int]]:
    """Item ids of each subsection in the current print order."""
    grouped: dict[str, list[int]] = {}
    for item, _ in await submissions.issue_items(ctx.session, issue.id):
        grouped.setdefault(item.subsection, []).append(item.id)
    return grouped


async def _prompt_list(ctx: StepContext) -> list[Outgoing]:
    rows = [
        (item, window)
        for item, window in await latest_items(ctx)
        if item.subsection == ctx.data["subsection"]
    ]
    lines = [
        window_item_line(number, window, item, PREVIEW_CHARS)
        for number, (item, window) in enumerate(rows, start=1)
    ]
    return [Outgoing(messages.order_list(lines))]


async def _handle_list(ctx: StepContext, update: Incoming) -> Reply:
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
    return Reply.to_menu([Outgoing(messages.ORDER_SAVED)])


ORDER = Conversation(
    name="order",
    roles=EDITOR_ROLES,
    entries=(
        Entry(
            "order",
            messages.LABEL_ORDER,
            start_order,
            to=(OrderState.SUBSECTION, END),
            keywords=("排序",),
        ),
    ),
    states={
        OrderState.SUBSECTION: State(
            _prompt_subsection, _handle_subsection, messages.ORDER_HELP, to=(OrderState.LIST,)
        ),
        OrderState.LIST: State(
            _prompt_list,
            _handle_list,
            messages.ORDER_HELP,
            to=(END, OrderState.SUBSECTION),
            back=back_to(OrderState.SUBSECTION),
        ),
    },
)
