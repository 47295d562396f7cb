"""The menu: where an idle person's message lands, built from the registry's declarations."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from handlers import messages
from handlers.framework.choices import resolve_choice
from handlers.framework.conversation import Conversation, Reply, State, StepContext
from handlers.types import Incoming, Outgoing
from storage.models import Role

if TYPE_CHECKING:
    from handlers.framework.registry import Registry


class MenuState(StrEnum):
    MAIN = "menu.main"


def menu_conversation(registry: Registry) -> Conversation:
    """The menu of each role: its entries, typed keywords, refusals and help."""

    async def prompt(ctx: StepContext) -> list[Outgoing]:
        return [Outgoing(messages.MENU_PROMPT, registry.menu(_role(ctx)))]

    async def step(ctx: StepContext, update: Incoming) -> Reply:
        menu = registry.menu(_role(ctx))
        allowed = {choice.value for choice in menu}
        text = (update.text or "").strip()
        value = update.choice or resolve_choice(text, list(menu)) or registry.keywords.get(text)
        if value is None:
            return Reply.to_menu([])
        found = registry.entry(value)
        if value not in allowed:
            refusal = registry.refusal(found[0]) if found is not None else None
            return Reply.to_menu([Outgoing(refusal)] if refusal else [])
        if found is None:  # the menu's own 帮助
            return Reply.to_menu([Outgoing(registry.role_help(_role(ctx)))])
        _, entry = found
        reply = await entry.start(ctx)
        if reply.next is not None and reply.next not in entry.to:
            raise UndeclaredTransition(f"entry {entry.value} went to {reply.next}")
        return reply

    return Conversation(
        name="menu",
        roles=frozenset(Role),
        states={MenuState.MAIN: State(prompt, step, messages.STAFF_HELP)},
    )


class UndeclaredTransition(Exception):
    """A step went to a state its declaration does not name (a developer's error)."""


def _role(ctx: StepContext) -> Role:
    return Role(ctx.member.role) if ctx.member is not None else Role.STAFF
