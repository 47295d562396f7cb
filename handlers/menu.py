"""The main menu of each role: where an idle person's message lands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from handlers import messages
from handlers.conversation import Conversation, Reply, State, StepContext, resolve_choice
from handlers.types import Choice, Incoming, Outgoing
from storage.models import Member, Role

STAFF_MENU: Final = (
    Choice("submit", messages.LABEL_SUBMIT),
    Choice("no_news", messages.LABEL_NO_NEWS),
    Choice("my_items", messages.LABEL_MY_ITEMS),
    Choice("help", messages.LABEL_HELP),
)
EDITOR_MENU: Final = (
    Choice("status", messages.LABEL_STATUS),
    Choice("remind", messages.LABEL_REMIND),
    Choice("statistics", messages.LABEL_STATISTICS),
    Choice("inspection", messages.LABEL_INSPECTION),
    Choice("order", messages.LABEL_ORDER),
    Choice("extend", messages.LABEL_EXTEND),
    Choice("windows", messages.LABEL_WINDOWS),
    Choice("compile", messages.LABEL_COMPILE),
    Choice("help", messages.LABEL_HELP),
)
INSPECTOR_MENU: Final = (
    Choice("inspection", messages.LABEL_INSPECTION),
    Choice("help", messages.LABEL_HELP),
)
MENUS: Final = {
    Role.STAFF: STAFF_MENU,
    Role.EDITOR: EDITOR_MENU,
    Role.ADMIN: EDITOR_MENU,
    Role.INSPECTOR: INSPECTOR_MENU,
}
HELPS: Final = {
    Role.STAFF: messages.STAFF_HELP,
    Role.EDITOR: messages.EDITOR_HELP,
    Role.ADMIN: messages.EDITOR_HELP,
    Role.INSPECTOR: messages.INSPECTOR_HELP,
}
# Words a person may type instead of choosing from the menu.
KEYWORDS: Final = {word: "no_news" for word in messages.NO_NEWS_WORDS} | {
    "提交": "submit",
    "提交动态": "submit",
    "我的动态": "my_items",
    "修改": "my_items",
    "撤回": "my_items",
    "状态": "status",
    "提醒": "remind",
    "草稿": "compile",
    "统计": "statistics",
    "巡查": "inspection",
    "排序": "order",
}

# What someone is told who asks for another role's command.
REFUSALS: Final = {
    value: messages.EDITOR_ONLY
    for value in ("status", "remind", "statistics", "order", "extend", "windows", "compile")
} | {
    "inspection": messages.INSPECTOR_ONLY,
    "submit": messages.STAFF_ONLY,
    "no_news": messages.STAFF_ONLY,
    "my_items": messages.STAFF_ONLY,
}

Action = Callable[[StepContext], Awaitable[Reply]]
# Filled by handlers.registry, which knows every conversation; avoids an import cycle.
ACTIONS: dict[str, Action] = {}


def menu_message(text: str, menu: tuple[Choice, ...]) -> Outgoing:
    return Outgoing(text, menu)


def menu_for(member: Member | None) -> tuple[Choice, ...]:
    """The main menu of the member's role."""
    role = member.role if member is not None else Role.STAFF
    return MENUS.get(Role(role), STAFF_MENU)


def _menu(ctx: StepContext) -> tuple[Choice, ...]:
    return menu_for(ctx.member)


async def _prompt(ctx: StepContext) -> list[Outgoing]:
    return [menu_message(messages.MENU_PROMPT, _menu(ctx))]


async def _handle(ctx: StepContext, update: Incoming) -> Reply:
    menu = _menu(ctx)
    allowed = {choice.value for choice in menu}
    text = (update.text or "").strip()
    value = update.choice or resolve_choice(text, list(menu)) or KEYWORDS.get(text)
    if value is None:
        return Reply([], "menu.main")
    if value not in allowed:
        refusal = REFUSALS.get(value)
        return Reply([Outgoing(refusal)] if refusal else [], "menu.main")
    if value == "help":
        role = Role(ctx.member.role) if ctx.member is not None else Role.STAFF
        return Reply([Outgoing(HELPS[role])], "menu.main")
    return await ACTIONS[value](ctx)


MENU = Conversation(
    name="menu",
    states={"menu.main": State(_prompt, _handle, messages.STAFF_HELP)},
)
