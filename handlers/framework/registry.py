"""What the declarations add up to: menus, refusals, keyword routing, help, the state graph.

Built once from the conversations (`handlers.registry` lists them); nothing is filled in at
import time. `problems` walks the graph of every conversation; the runtime refuses to start
with a registry that has any.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from handlers import messages
from handlers.framework.conversation import Conversation, Entry, State, Target
from handlers.framework.menu import menu_conversation
from handlers.types import Choice
from storage.models import Role

HELP_VALUE: Final = "help"  # the menu's own choice: the role's help


class RegistryError(Exception):
    """A conversation's declaration does not add up (a developer's error, found at start)."""


@dataclass(frozen=True, slots=True)
class Registered:
    conversation: Conversation
    name: StrEnum
    state: State


class Registry:
    """Every conversation, and what the menu and the runtime derive from them.

    The menu is the built-in conversation of the idle person (handlers.framework.menu); the
    others' entries appear on the menus in the order the conversations are given.
    """

    def __init__(
        self, conversations: Sequence[Conversation], role_help: Mapping[Role, str]
    ) -> None:
        self.menu_conversation = menu_conversation(self)
        self.conversations = (self.menu_conversation, *conversations)
        self._role_help = dict(role_help)
        self._states: dict[str, Registered] = {}
        self._entries: dict[str, tuple[Conversation, Entry]] = {}
        self._duplicates: list[str] = []
        for conversation in self.conversations:
            for name, state in conversation.states.items():
                if name.value in self._states:
                    self._duplicates.append(f"state {name.value} declared twice")
                self._states[name.value] = Registered(conversation, name, state)
            for entry in conversation.entries:
                if entry.value in self._entries or entry.value == HELP_VALUE:
                    self._duplicates.append(f"entry {entry.value} declared twice")
                self._entries[entry.value] = (conversation, entry)
        self.keywords: Final[Mapping[str, str]] = {
            word: entry.value
            for _, entry in self._entries.values()
            for word in (entry.keywords or ())
        }
        self.menus: Final[Mapping[Role, tuple[Choice, ...]]] = {
            role: self._menu_of(role) for role in Role
        }

    def _menu_of(self, role: Role) -> tuple[Choice, ...]:
        entries = [
            Choice(entry.value, entry.label)
            for conversation, entry in self._entries.values()
            if role in conversation.roles and entry.on_menu
        ]
        return (*entries, Choice(HELP_VALUE, messages.LABEL_HELP))

    def menu(self, role: Role | str | None) -> tuple[Choice, ...]:
        """The main menu of the role (a stranger's is window staff's)."""
        return self.menus[Role(role) if role is not None else Role.STAFF]

    def role_help(self, role: Role | str | None) -> str:
        return self._role_help[Role(role) if role is not None else Role.STAFF]

    def entry(self, value: str) -> tuple[Conversation, Entry] | None:
        return self._entries.get(value)

    def button(self, value: str) -> tuple[Conversation, Entry, str] | None:
        """The entry a button's value starts (one not on the menu), and its argument."""
        name, colon, argument = value.partition(":")
        found = self._entries.get(name) if colon else None
        if found is None or found[1].on_menu:
            return None
        return (*found, argument)

    def state(self, name: str) -> Registered | None:
        return self._states.get(name)

    def states(self) -> Mapping[str, Registered]:
        """State name → its conversation and declaration."""
        return self._states

    @staticmethod
    def refusal(conversation: Conversation) -> str:
        """What someone is told who asks for a conversation their role may not take."""
        if Role.STAFF in conversation.roles:
            return messages.STAFF_ONLY
        if Role.INSPECTOR in conversation.roles:
            return messages.INSPECTOR_ONLY
        return messages.EDITOR_ONLY

    def problems(self) -> list[str]:
        """Everything wrong with the declarations; empty when they add up.

        Every state of a conversation's enum is declared; every state a step or an entry may
        go to exists; every state is reachable from the menu; every role has a menu with at
        least one entry and a help that names each of its entries; no keyword means two things.
        """
        found = list(self._duplicates)
        for conversation in self.conversations:
            for name in conversation.states:
                missing = [m for m in type(name) if m not in conversation.states]
                if missing:
                    found.append(f"{conversation.name}: states without a declaration: {missing}")
                    break
            if not conversation.roles:
                found.append(f"{conversation.name}: no role may take it")
        for source, target in self._edges():
            if isinstance(target, StrEnum) and target.value not in self._states:
                found.append(f"{source} goes to {target}, which no conversation declares")
        reached = self._reachable()
        found += [
            f"state {n} cannot be reached from the menu" for n in self._states if n not in reached
        ]
        for role in Role:
            entries = self.menus[role][:-1]
            if not entries:
                found.append(f"role {role} has an empty menu")
            help_text = self._role_help.get(role)
            if help_text is None:
                found.append(f"role {role} has no help")
            else:
                found += [
                    f"role {role}'s help does not name {c.label}"
                    for c in entries
                    if c.label not in help_text
                ]
        words = [w for _, e in self._entries.values() for w in e.keywords]
        found += [f"keyword {w} means two entries" for w in set(words) if words.count(w) > 1]
        return found

    def check(self) -> None:
        """Raise RegistryError when the declarations do not add up."""
        found = self.problems()
        if found:
            raise RegistryError("; ".join(found))

    def _edges(self) -> Iterator[tuple[str, Target]]:
        for conversation, entry in self._entries.values():
            for target in entry.to:
                yield f"{conversation.name}:{entry.value}", target
        for name, registered in self._states.items():
            for target in registered.state.to:
                yield name, target

    def _reachable(self) -> set[str]:
        graph: dict[str, list[str]] = {}
        for source, target in self._edges():
            if isinstance(target, StrEnum):
                graph.setdefault(source, []).append(target.value)
        menu_states = [name.value for name in self.menu_conversation.states]
        seen: set[str] = set(menu_states)
        todo = [*menu_states, *(f"{c.name}:{e.value}" for c, e in self._entries.values())]
        while todo:
            for following in graph.get(todo.pop(), []):
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
        return seen
