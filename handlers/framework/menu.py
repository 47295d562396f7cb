"""The menu: where an idle person's message lands, built from the registry's declarations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.framework.choices import keep_offered, resolve_choice
from handlers.framework.conversation import Conversation, Reply, State, StepContext
from handlers.types import ChatKey, Choice, Incoming, Outgoing
from storage.models import Role
from storage.repositories import conversations

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
            known = found is not None and found[1].on_menu
            refusal = registry.refusal(found[0]) if found is not None and known else None
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


async def offer_at_menu(
    session: AsyncSession, key: ChatKey, choices: tuple[Choice, ...], now: datetime
) -> None:
    """Let a typed number answer `choices`, sent to `key` by someone else's step, when `key`
    is at the menu (not in the middle of a conversation, whose step a number answers)."""
    stored = await conversations.load_state(session, key.channel, key.chat_id, key.user_id)
    if stored is not None and stored.state != MenuState.MAIN:
        return
    data: dict[str, Any] = {}
    keep_offered(data, choices)
    await conversations.save_state(
        session,
        key.channel,
        key.chat_id,
        key.user_id,
        conversation="menu",
        state=MenuState.MAIN,
        data=data,
        now=now,
    )


class UndeclaredTransition(Exception):
    """A step went to a state its declaration does not name (a developer's error)."""


def _role(ctx: StepContext) -> Role:
    return Role(ctx.member.role) if ctx.member is not None else Role.STAFF
