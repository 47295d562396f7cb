"""The turn runtime: one update of one person, from their stored state to what it leaves.

Routing (the menu, a binding code, the state's step), the words every state answers (取消,
帮助, 返回), mapping a typed number or label to the choice offered, the role check, ending a
conversation and prompting the next state, and timeouts. The engine (`bot/engine.py`) only
batches, isolates and commits: it hands each turn a session inside its own savepoint and
writes what `Turn` returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.errors import InputRejected
from handlers.framework import binding
from handlers.framework.choices import keep_offered, offered_in, resolve_choice
from handlers.framework.conversation import END, MenuOffer, Reply, State, StepContext, Target
from handlers.framework.lookups import BatchLookups
from handlers.framework.menu import MenuState, UndeclaredTransition
from handlers.framework.registry import Registry
from handlers.settings import HandlerSettings
from handlers.types import ChatKey, Envelope, Incoming, Outgoing
from storage.models import Member, Window
from storage.repositories import conversations
from storage.repositories.conversations import StoredState
from storage.repositories.guards import GuardRecord

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Turn:
    """What one update leaves behind, written when its batch commits."""

    envelopes: list[Envelope] = field(default_factory=list)
    state: dict[str, Any] | None = None  # a conversation_states row to save
    clear_state: bool = False  # the conversation ended: delete its row
    # False: undo whatever the step wrote (a rejected answer) and keep the person where
    # they were; the envelopes are still the answer.
    keep_changes: bool = True


class Runtime:
    """Runs turns against a registry; checks the registry's declarations when built."""

    def __init__(self, registry: Registry, settings: HandlerSettings) -> None:
        registry.check()
        self.registry = registry
        self.settings = settings

    # --- strangers and binding codes ---

    @staticmethod
    def needs_guard(update: Incoming, is_member: bool) -> bool:
        """Whether the update's chat guard must be loaded: a stranger's, or a code's."""
        return not is_member or binding.code_of(update) is not None

    @staticmethod
    def counted_only(update: Incoming, is_member: bool, guard: GuardRecord, now: datetime) -> bool:
        """A stranger's message that is no attempt at a code (or from a locked-out chat):
        counted in its chat's guard, answered at most once a while, and not recorded."""
        if is_member:
            return False
        return binding.code_of(update) is None or binding.is_locked(guard, now)

    def answer_stranger(self, update: Incoming, guard: GuardRecord, now: datetime) -> Turn:
        interval = self.settings.stranger_reply_interval
        answer = binding.answer_stranger(guard, now, interval)
        return Turn([Envelope(update.key, message) for message in answer])

    # --- batches ---

    @staticmethod
    def lookups(windows_of: dict[int, Window]) -> BatchLookups:
        return BatchLookups(windows_of)

    def failed(self, update: Incoming) -> Turn:
        """The answer to an update whose step failed unexpectedly (its changes undone)."""
        return Turn([Envelope(update.key, Outgoing(messages.INTERNAL_ERROR))], keep_changes=False)

    # --- one turn ---

    async def turn(
        self,
        session: AsyncSession,
        update: Incoming,
        member: Member | None,
        row: StoredState | None,
        now: datetime,
        memo: dict[str, Any] | None = None,
        guard: GuardRecord | None = None,
    ) -> Turn:
        """Run the step `update` answers; return the state and messages to write.

        A rejected answer (InputRejected) is an answer: its message, with the choices offered
        again, and the person stays where they were (`keep_changes` False).
        """
        try:
            return await self._turn(session, update, member, row, now, memo or {}, guard)
        except InputRejected as rejection:
            offered = offered_in(row.data) if row is not None else []
            answer = Outgoing(rejection.user_message, tuple(offered))
            return Turn([Envelope(update.key, answer)], keep_changes=False)

    async def _turn(
        self,
        session: AsyncSession,
        update: Incoming,
        member: Member | None,
        row: StoredState | None,
        now: datetime,
        memo: dict[str, Any],
        guard: GuardRecord | None,
    ) -> Turn:
        key = update.key
        current, data, notices = self.current(row, now)
        ctx = StepContext(
            session, self.settings, key, member, now, data, memo=memo, menus=self.registry.menus
        )
        reply = await self._route(ctx, update, current, guard)
        out = notices + reply.messages
        to_save: str | None = current
        if reply.next is END:
            to_save = None
            if ctx.member is not None and reply.menu is MenuOffer.OWN_MESSAGE:
                out += await self._prompt(MenuState.MAIN, ctx)
                to_save = MenuState.MAIN
            elif ctx.member is not None and out and not out[-1].choices:
                # A finished conversation leaves the menu at hand: its buttons go on the last
                # message, and a typed number answers them.
                menu = self.registry.menu(ctx.member.role)
                out[-1] = Outgoing(out[-1].text, menu, out[-1].document)
                ctx.data = {}
                keep_offered(ctx.data, menu)
                to_save = MenuState.MAIN
        elif reply.next is not None:
            out += await self._prompt(reply.next.value, ctx)
            to_save = reply.next.value
        turn = Turn([Envelope(key, message) for message in out] + ctx.others)
        if to_save is None:
            turn.clear_state = row is not None
        else:
            turn.state = self._state_row(key, to_save, ctx.data, now)
        logger.info(
            "update handled",
            extra={"update_id": update.update_id, "from": current, "to": to_save},
        )
        return turn

    async def _route(
        self, ctx: StepContext, update: Incoming, current: str | None, guard: GuardRecord | None
    ) -> Reply:
        """The reply to `update`: a binding, a word every state answers, or the step's."""
        text = (update.text or "").strip()
        if ctx.member is None:
            return await binding.try_bind(ctx, update, guard) or binding.unbound_reply()
        if update.choice is None and text in messages.CANCEL_WORDS:
            return Reply.to_menu([Outgoing(messages.CANCELLED)])
        # A button's value, or a typed number or label that picks one of the choices offered
        # (on a text-only channel, the person at the menu may answer a notice's button).
        answer = self._with_choice(update, ctx.data)
        button = self.registry.button(answer.choice) if answer.choice is not None else None
        if button is not None:  # a button that starts a conversation, from any state
            conversation, entry, ctx.argument = button
            if ctx.member.role not in conversation.roles:
                raise InputRejected(self.registry.refusal(conversation))
            ctx.data = {}
            return _declared(await entry.start(ctx), entry.to, entry.value)
        if current is None or current == MenuState.MAIN:
            bound = await binding.try_bind(ctx, update, guard)
            return bound or await self._state(MenuState.MAIN).step(ctx, update)
        registered = self.registry.state(current)
        assert registered is not None  # self.current dropped unknown states
        state = registered.state
        if update.choice is None and text in messages.HELP_WORDS:
            return Reply([Outgoing(state.help)], registered.name)  # and its question again
        if ctx.member.role not in registered.conversation.roles:  # a step's role check
            raise InputRejected(self.registry.refusal(registered.conversation))
        if answer.choice is None and text in messages.BACK_WORDS:
            reply = await state.back(ctx) if state.back else Reply.to_menu([])
        else:
            reply = await state.step(ctx, answer)
        return _declared(reply, state.to, current)

    def _state(self, name: str) -> State:
        registered = self.registry.state(name)
        assert registered is not None
        return registered.state

    async def _prompt(self, name: str, ctx: StepContext) -> list[Outgoing]:
        """The prompt of state `name`, its choices kept as the ones offered."""
        prompts = await self._state(name).prompt(ctx)
        keep_offered(ctx.data, [c for message in prompts for c in message.choices])
        return prompts

    def _state_row(
        self, key: ChatKey, name: str, data: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        registered = self.registry.state(name)
        assert registered is not None
        return conversations.state_row(
            key.channel.value,
            key.chat_id,
            key.user_id,
            conversation=registered.conversation.name,
            state=name,
            data=data,
            now=now,
        )

    def current(
        self, row: StoredState | None, now: datetime
    ) -> tuple[str | None, dict[str, Any], list[Outgoing]]:
        """The state to continue from, its data, and any notice (a timed-out conversation)."""
        if row is None:
            return None, {}, []
        registered = self.registry.state(row.state)
        if registered is None:
            logger.warning("unknown stored state dropped", extra={"state": row.state})
            return None, {}, []
        timeout: timedelta = registered.conversation.timeout
        if row.state != MenuState.MAIN and now - row.updated_at > timeout:
            return None, {}, [Outgoing(messages.TIMED_OUT)]
        return row.state, dict(row.data), []

    @staticmethod
    def _with_choice(update: Incoming, data: dict[str, Any]) -> Incoming:
        """Map a typed reply ("2" or a label) to the value of the choice last offered.

        A back word (上一步) picks the step's own 返回 choice when it offers one.
        """
        if update.choice is not None or not update.text:
            return update
        typed = update.text
        if typed.strip() in messages.BACK_WORDS:
            typed = messages.LABEL_BACK
        value = resolve_choice(typed, offered_in(data))
        if value is None:
            return update
        return Incoming(
            update.key,
            update.update_id,
            update.received_at,
            update.text,
            value,
            update.display_name,
        )

    # --- coming back ---

    async def resume(
        self,
        session: AsyncSession,
        key: ChatKey,
        member: Member | None,
        row: StoredState | None,
        now: datetime,
    ) -> Turn:
        """The prompt of the step `key` is in the middle of, for a person coming back.

        Nothing for someone at the menu, with no conversation, or whose conversation timed
        out (their next message says so). The caller runs it in a savepoint.
        """
        current, data, _ = self.current(row, now)
        if current is None or current == MenuState.MAIN or member is None:
            return Turn()
        ctx = StepContext(session, self.settings, key, member, now, data, menus=self.registry.menus)
        try:
            prompts = await self._prompt(current, ctx)
            out = [Outgoing(messages.RESUMING), *prompts]
            to_save: str = current
        except InputRejected as rejection:
            # The step cannot go on (the issue closed meanwhile): say why, offer the menu.
            menu = self.registry.menu(member.role)
            out = [Outgoing(rejection.user_message, menu)]
            ctx.data = {}
            keep_offered(ctx.data, menu)
            to_save = MenuState.MAIN
            kept = False
        else:
            kept = True
        logger.info("conversation resumed", extra={"state": to_save})
        return Turn(
            [Envelope(key, message) for message in out],
            state=self._state_row(key, to_save, ctx.data, now),
            keep_changes=kept,
        )


def _declared(reply: Reply, to: tuple[Target, ...], source: str) -> Reply:
    """`reply`, unless it goes to a state `source` does not declare (a developer's error)."""
    if reply.next is not None and reply.next is not END and reply.next not in to:
        raise UndeclaredTransition(f"{source} went to {reply.next}")
    return reply
