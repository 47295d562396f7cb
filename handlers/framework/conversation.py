"""A conversation is one declaration: its entries, roles, typed states, help and timeout.

Modelled on python-telegram-bot's ConversationHandler (entry points, states, fallbacks,
timeout) and aiogram's typed states, with the state kept in the database. A state name is a
member of the conversation's `StrEnum`, and its value is stored data ("intake.text"):
renaming one needs a data migration. A step returns a `Reply` naming the next state, or
`END`, the one way a conversation finishes (the person is back at their menu).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.framework.choices import CHOICES_KEY
from handlers.settings import HandlerSettings
from handlers.types import ChatKey, Choice, Envelope, Incoming, Outgoing
from storage.models import Member, Role


class End(Enum):
    END = "end"


END: Final = End.END  # the conversation is over: the person is back at their menu

# Where a step may go: one of the states of a conversation (its StrEnum), or END.
Target = StrEnum | End


class MenuOffer(Enum):
    """How the menu is offered when a conversation ends."""

    UNDER_LAST = "under_last"  # its buttons under the last message (a typed number answers)
    OWN_MESSAGE = "own_message"  # a message of its own: 请选择要做的事


@dataclass(slots=True)
class Reply:
    messages: list[Outgoing]
    next: Target | None = None  # None: stay at this state
    menu: MenuOffer = MenuOffer.UNDER_LAST  # with END

    @classmethod
    def to_menu(cls, messages: list[Outgoing]) -> Reply:
        """End the conversation and ask what next in a message of its own."""
        return cls(messages, END, MenuOffer.OWN_MESSAGE)


@dataclass(slots=True)
class StepContext:
    """Everything a step may use; `data` is saved with the state."""

    session: AsyncSession
    settings: HandlerSettings
    key: ChatKey
    member: Member | None
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)
    others: list[Envelope] = field(default_factory=list)  # messages to other people
    # Rows a step looks up more than once (handlers.framework.lookups): asked for once a step,
    # some of them once a batch.
    memo: dict[str, Any] = field(default_factory=dict)
    argument: str = ""  # what follows the entry's value in a button's (see Entry.on_menu)
    # Each role's menu (the registry's), for a step that sends one to someone else.
    menus: Mapping[Role, tuple[Choice, ...]] = field(default_factory=dict)

    def send_to(self, envelope: Envelope) -> None:
        self.others.append(envelope)


Step = Callable[[StepContext, Incoming], Awaitable[Reply]]
Prompt = Callable[[StepContext], Awaitable[list[Outgoing]]]
Action = Callable[[StepContext], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class State:
    """One step of a conversation: how to ask, how to handle the answer, what help says.

    `to`: every state the step (or `back`) may go to; the runtime refuses any other, and the
    registry checks that each is a state it knows and that every state is reachable.
    `back` answers 返回 (messages.BACK_WORDS) where the step offers no 返回 choice of its
    own: it returns the step before, with `data` set as that step expects. None: the menu.
    """

    prompt: Prompt
    step: Step
    help: str
    to: tuple[Target, ...] = ()
    back: Action | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A way into a conversation: a menu choice and the words that mean it, or a button.

    An entry not `on_menu` is a button another conversation sends (python-telegram-bot's
    pattern entry point): its value is `f"{value}:{argument}"`, it starts the conversation
    from whatever state the person is at, and `start` finds the argument in `ctx.argument`
    (untrusted: it came back from the network).
    """

    value: str  # the menu choice's value: stable ASCII, sent back by buttons
    label: str  # the menu choice's label, from messages.py
    start: Action  # runs when chosen: returns the first state (or END)
    to: tuple[Target, ...]  # every state `start` may go to
    keywords: tuple[str, ...] = ()  # typed words that mean this entry
    on_menu: bool = True


@dataclass(frozen=True, slots=True)
class Conversation:
    """One flow, declared whole. `roles`: who may enter it and take its steps (one check, in
    the runtime: a member whose role changed mid-conversation is refused at the next step).
    """

    name: str
    roles: frozenset[Role]
    entries: tuple[Entry, ...] = ()
    states: Mapping[StrEnum, State] = field(default_factory=dict)
    timeout: timedelta = timedelta(hours=12)


def back_to(state: StrEnum) -> Action:
    """A `State.back` that only goes to `state`, the step before."""

    async def back(ctx: StepContext) -> Reply:
        return Reply([], state)

    return back


def offered_values(ctx: StepContext) -> set[str]:
    """The values of the choices the step's prompt offered (nothing for a free-text step)."""
    return {str(pair[0]) for pair in ctx.data.get(CHOICES_KEY, []) if pair}
