"""The conversation engine: one update in, state and replies out, in one transaction.

Per update: drop it if the ledger has seen its id, load the sender's member and
conversation state, run the step, save the new state and write every reply to the
outbox, then commit. A channel sends from the outbox afterwards, so a crash neither
loses nor doubles an answer, and a restart resumes each chat at the step it was at.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import messages
from handlers.binding import try_bind, unbound_reply
from handlers.conversation import (
    END,
    HandlerSettings,
    Reply,
    StepContext,
    resolve_choice,
)
from handlers.delivery import enqueue
from handlers.errors import InputRejected
from handlers.menu import menu_for
from handlers.registry import all_states
from handlers.types import ChatKey, Choice, Envelope, Incoming, Outgoing
from storage.models import ConversationState
from storage.repositories import conversations, members

logger = logging.getLogger(__name__)

MENU_STATE = "menu.main"
CHOICES_KEY = "_choices"  # the choices last offered, so a typed "2" can be mapped back


class Engine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: HandlerSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._states = all_states()
        self._locks: dict[ChatKey, asyncio.Lock] = {}
        self._lock_users: dict[ChatKey, int] = {}

    async def handle(self, update: Incoming) -> list[Envelope]:
        """Handle one update; return the messages it queued (empty for a redelivery)."""
        key = update.key
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._lock_users[key] = self._lock_users.get(key, 0) + 1
        try:
            async with lock:  # one update at a time per chat keeps its steps in order
                return await self._handle(update)
        finally:
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key], self._locks[key]

    async def _handle(self, update: Incoming) -> list[Envelope]:
        now = self._clock()
        try:
            async with self._sessions() as session, session.begin():
                if not await conversations.mark_processed(
                    session, update.key.channel.value, update.update_id, now
                ):
                    logger.info("duplicate update dropped", extra={"update_id": update.update_id})
                    return []
                return await self._run(session, update, now)
        except InputRejected as rejection:
            # The step's changes were rolled back; record the update and answer why.
            return await self._answer_only(update, now, rejection.user_message, True)
        except Exception:
            logger.exception("update failed", extra={"update_id": update.update_id})
            return await self._answer_only(update, now, messages.INTERNAL_ERROR, False)

    async def _run(self, session: AsyncSession, update: Incoming, now: datetime) -> list[Envelope]:
        key = update.key
        member = await members.get_member(session, key.channel.value, key.user_id)
        row = await conversations.load_state(session, key.channel.value, key.chat_id, key.user_id)
        current, data, notices = self._current(row, now)
        ctx = StepContext(session, self._settings, key, member, now, data)
        text = (update.text or "").strip()

        if member is None:
            reply = await try_bind(ctx, update) or unbound_reply()
        elif update.choice is None and text in messages.CANCEL_WORDS:
            reply = Reply([Outgoing(messages.CANCELLED)], MENU_STATE)
        elif (
            update.choice is None
            and text in messages.HELP_WORDS
            and current not in (None, MENU_STATE)  # the menu answers help by role
        ):
            reply = Reply([Outgoing(self._states[current][1].help)], current)
        elif current is None or current == MENU_STATE:
            bound = await try_bind(ctx, update)
            reply = bound or await self._states[MENU_STATE][1].handle(ctx, update)
        else:
            reply = await self._states[current][1].handle(ctx, self._with_choice(update, data))

        out = notices + reply.messages
        next_state = reply.next_state
        to_save: str | None = current
        if next_state == END:
            to_save = None
            if ctx.member is not None and out and not out[-1].choices:
                # A finished conversation leaves the menu at hand: its buttons go on the last
                # message, and a typed number answers them.
                menu = menu_for(ctx.member)
                out[-1] = Outgoing(out[-1].text, menu, out[-1].document)
                ctx.data = {CHOICES_KEY: [[c.value, c.label] for c in menu]}
                to_save = MENU_STATE
        elif next_state is not None:
            prompts = await self._states[next_state][1].prompt(ctx)
            out += prompts
            offered = [c for message in prompts for c in message.choices]
            ctx.data[CHOICES_KEY] = [[c.value, c.label] for c in offered]
            to_save = next_state
        if to_save is None:
            await conversations.delete_state(session, key.channel.value, key.chat_id, key.user_id)
        else:
            await conversations.save_state(
                session,
                key.channel.value,
                key.chat_id,
                key.user_id,
                conversation=self._states[to_save][0].name,
                state=to_save,
                data=ctx.data,
                now=now,
            )
        envelopes = [Envelope(key, message) for message in out] + ctx.others
        for envelope in envelopes:
            await enqueue(session, envelope, now)
        logger.info(
            "update handled",
            extra={"update_id": update.update_id, "from": current, "to": next_state},
        )
        return envelopes

    def _current(
        self, row: ConversationState | None, now: datetime
    ) -> tuple[str | None, dict[str, Any], list[Outgoing]]:
        """The state to continue from, its data, and any notice (a timed-out conversation)."""
        if row is None:
            return None, {}, []
        entry = self._states.get(row.state)
        if entry is None:
            logger.warning("unknown stored state dropped", extra={"state": row.state})
            return None, {}, []
        conversation, _ = entry
        if row.state != MENU_STATE and now - row.updated_at > conversation.timeout:
            return None, {}, [Outgoing(messages.TIMED_OUT)]
        return row.state, dict(row.data), []

    @staticmethod
    def _with_choice(update: Incoming, data: dict[str, Any]) -> Incoming:
        """Map a typed reply ("2" or a label) to the value of the choice last offered."""
        if update.choice is not None or not update.text:
            return update
        offered = [Choice(value, label) for value, label in data.get(CHOICES_KEY, [])]
        value = resolve_choice(update.text, offered)
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

    async def _answer_only(
        self, update: Incoming, now: datetime, text: str, with_choices: bool
    ) -> list[Envelope]:
        """Record the update and answer `text`, leaving the conversation where it was."""
        key = update.key
        async with self._sessions() as session, session.begin():
            if not await conversations.mark_processed(
                session, key.channel.value, update.update_id, now
            ):
                return []
            row = await conversations.load_state(
                session, key.channel.value, key.chat_id, key.user_id
            )
            choices: tuple[Choice, ...] = ()
            if with_choices and row is not None:
                # Offer the buttons again so the person can simply pick one.
                choices = tuple(Choice(v, label) for v, label in row.data.get(CHOICES_KEY, []))
            envelope = Envelope(key, Outgoing(text, choices))
            await enqueue(session, envelope, now)
            return [envelope]
