"""The conversation engine: updates in, state and replies out, durably, in groups.

Per update: drop it if the ledger has seen its id, load the sender's member and
conversation state, run the step, save the new state and write every reply to the
outbox (the answers to the sender in the reply lane). A channel sends from the outbox
afterwards, so a crash loses no answer (delivery is at least once: it may repeat the few on
their way), and a restart resumes each chat at the step it was at.

Group commit: the updates that arrive while a commit is under way are handled together in
the next transaction (at most `MAX_BATCH`), with one multi-row statement each for the
ledger, the members, the states and the outbox. A chat has at most one update in a batch
(its lock is held until the commit), so each chat's steps stay in order, and `handle`
returns only once its update is committed. A step that fails (a rejected answer, a bug) is
rolled back alone: the batch is run again with a savepoint around each step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from handlers import messages
from handlers.binding import answer_stranger, code_of, is_locked, try_bind, unbound_reply
from handlers.conversation import (
    CHOICES_KEY,
    END,
    MEMO_ISSUE,
    MEMO_WINDOW,
    HandlerSettings,
    Reply,
    StepContext,
    resolve_choice,
)
from handlers.delivery import outbox_row
from handlers.errors import InputRejected
from handlers.menu import menu_for
from handlers.registry import all_states
from handlers.types import ChatKey, Choice, Envelope, Incoming, Outgoing
from storage.database import SQLITE_BEGIN_OPTION, statements_inline
from storage.errors import is_unreachable
from storage.models import Lane, Member, Role, Window
from storage.repositories import conversations, guards, members, outbox, windows
from storage.repositories.conversations import StoredState
from storage.repositories.guards import GuardRecord

logger = logging.getLogger(__name__)

MENU_STATE = "menu.main"

# Most updates committed together. Each batch costs a few milliseconds whatever its size (the
# batch's statements, the commit, the hand-offs around them): at 2,000 chats typing at once,
# batches of 256 made 3,800 turns/s against 3,000 with 64 and 2,600 with 32 (benchmarks/turns.py).
# A batch never holds the event loop: the engine yields between its steps.
MAX_BATCH: Final = 256

# A batch always writes, so on SQLite it takes the write lock at once: a deferred
# transaction would fail, not wait, when another connection wrote between its read and its
# first write. It also makes savepoints work under pysqlite's transaction handling.
_WRITE_TRANSACTION: Final = {SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"}


class _StepFailed(Exception):
    """A step raised while the batch ran without savepoints: run it again with them."""


@dataclass(slots=True)
class _Pending:
    update: Incoming
    done: asyncio.Future[list[Envelope]]


@dataclass(slots=True)
class _Outcome:
    """What one update leaves behind, written when its batch commits."""

    envelopes: list[Envelope] = field(default_factory=list)
    state: dict[str, Any] | None = None  # a conversation_states row to save
    clear_state: bool = False


class Engine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: HandlerSettings,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._metrics = metrics if metrics is not None else Metrics()
        self._states = all_states()
        self._locks: dict[ChatKey, asyncio.Lock] = {}
        self._lock_users: dict[ChatKey, int] = {}
        self._pending: list[_Pending] = []
        self._committer: asyncio.Task[None] | None = None

    async def handle(self, update: Incoming) -> list[Envelope]:
        """Handle one update; return the messages it queued (empty for a redelivery).

        Returns once the update is committed; raises if its batch could not be committed
        (the database is down), and the update may then be delivered again. Its texts pass
        the text gate first: nothing a channel delivers is stored, previewed or logged as is.
        """
        entered = time.perf_counter()
        update = update.through_gate()
        key = update.key
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._lock_users[key] = self._lock_users.get(key, 0) + 1
        try:
            async with lock:  # one update at a time per chat keeps its steps in order
                done: asyncio.Future[list[Envelope]] = asyncio.get_running_loop().create_future()
                self._pending.append(_Pending(update, done))
                if self._committer is None:
                    self._committer = asyncio.create_task(self._commit_pending())
                envelopes = await asyncio.shield(done)  # a cancelled caller leaves its batch be
                self._metrics.turn_seconds.observe(time.perf_counter() - entered)
                return envelopes
        finally:
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key], self._locks[key]

    async def resume(self, key: ChatKey) -> list[Envelope]:
        """Queue the prompt of the step `key` is in the middle of, for a person coming back.

        A console chat starts with it: a new terminal shows nothing of the last one, and an
        answer typed blind (a "1" at the text step) would land in the wrong step. The choices
        are offered again, so a typed number answers them. Nothing for someone at the menu,
        with no conversation, or whose conversation timed out (their next message says so).
        """
        now = self._clock()
        async with self._sessions() as session, session.begin():
            await session.connection(execution_options=_WRITE_TRANSACTION)
            state_key = (key.channel.value, key.chat_id, key.user_id)
            row = (await conversations.load_states(session, [state_key])).get(state_key)
            current, data, _ = self._current(row, now)
            member = await members.get_member(session, key.channel.value, key.user_id)
            if current is None or current == MENU_STATE or member is None:
                return []
            ctx = StepContext(session, self._settings, key, member, now, data)
            try:
                async with session.begin_nested():
                    prompts = await self._states[current][1].prompt(ctx)
                out = [Outgoing(messages.RESUMING), *prompts]
            except InputRejected as rejection:
                # The step cannot go on (the issue closed meanwhile): say why, offer the menu.
                prompts = out = [Outgoing(rejection.user_message, menu_for(member))]
                current, ctx.data = MENU_STATE, {}
            ctx.data[CHOICES_KEY] = [[c.value, c.label] for m in prompts for c in m.choices]
            state = conversations.state_row(
                *state_key,
                conversation=self._states[current][0].name,
                state=current,
                data=ctx.data,
                now=now,
            )
            await conversations.save_states(session, [state])
            envelopes = [Envelope(key, message) for message in out]
            await outbox.enqueue_many(session, [outbox_row(e, now, Lane.REPLY) for e in envelopes])
        logger.info("conversation resumed", extra={"state": current})
        return envelopes

    async def _commit_pending(self) -> None:
        """Commit what is pending, batch after batch, until nothing is; then stop."""
        try:
            while self._pending:
                await self._commit(self._next_batch())
        finally:
            self._committer = None

    def _next_batch(self) -> list[_Pending]:
        """Take the oldest pending updates, at most one per chat and `MAX_BATCH` in all.

        The chat's lock already keeps a second update out until the first is committed; this
        holds even for a caller that was cancelled while it waited.
        """
        batch: list[_Pending] = []
        keys: set[ChatKey] = set()
        left: list[_Pending] = []
        for pending in self._pending:
            if len(batch) < MAX_BATCH and pending.update.key not in keys:
                keys.add(pending.update.key)
                batch.append(pending)
            else:
                left.append(pending)
        self._pending = left
        return batch

    async def _commit(self, batch: list[_Pending]) -> None:
        """Commit one batch and answer its callers; on failure, each update on its own."""
        try:
            try:
                results = await self._run_batch(batch, careful=False)
            except _StepFailed:
                results = await self._run_batch(batch, careful=True)
        except Exception as error:
            if len(batch) > 1:
                # Something in the batch broke the transaction itself (not a step: those
                # are caught). Isolate it so that it fails only its own update.
                for pending in batch:
                    await self._commit([pending])
                return
            if not is_unreachable(error):  # the database being down is the caller's to report
                logger.exception(
                    "update not committed", extra={"update_id": batch[0].update.update_id}
                )
            if not batch[0].done.done():
                batch[0].done.set_exception(error)
            return
        self._metrics.batch_size.observe(len(batch))
        for pending, envelopes in zip(batch, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(envelopes)

    async def _run_batch(self, batch: Sequence[_Pending], careful: bool) -> list[list[Envelope]]:
        """Handle the batch in one transaction; return each update's queued messages.

        Not `careful`: a step that raises aborts the batch with `_StepFailed`. `careful`: each
        step runs in a savepoint, and a failed one is answered instead.
        """
        now = self._clock()
        updates = [pending.update for pending in batch]
        async with self._sessions() as session, session.begin():
            await session.connection(execution_options=_WRITE_TRANSACTION)
            async with statements_inline(session):
                outcomes = await self._run_steps(session, updates, careful, now)
        return [outcome.envelopes for outcome in outcomes]

    async def _run_steps(
        self, session: AsyncSession, updates: Sequence[Incoming], careful: bool, now: datetime
    ) -> list[_Outcome]:
        """Record the updates in the ledger, run their steps, write what they leave.

        A stranger's message (from someone no member is, and not an attempt at an invite
        code) costs no ledger row and no state: it is counted in its chat's guard and answered
        at most once per interval, which also keeps a redelivered one from being answered
        twice. Attempts at a code are recorded in the ledger like members' updates, unless
        the chat is locked out (then they are only counted too).
        """
        members_of = await members.get_members(
            session, ((u.key.channel.value, u.key.user_id) for u in updates)
        )
        strangers = {
            id(u) for u in updates if (u.key.channel.value, u.key.user_id) not in members_of
        }
        coded = {id(u) for u in updates if code_of(u) is not None}
        guards_of = await guards.load_guards(
            session, (_guard_key(u) for u in updates if id(u) in strangers | coded)
        )
        for update in updates:
            if id(update) in strangers | coded and _guard_key(update) not in guards_of:
                key = _guard_key(update)
                guards_of[key] = GuardRecord.new(*key, now)
        counted_only = {
            id(u)
            for u in updates
            if id(u) in strangers
            and (id(u) not in coded or is_locked(guards_of[_guard_key(u)], now))
        }
        fresh = await conversations.mark_processed_many(
            session,
            ((u.key.channel.value, u.update_id) for u in updates if id(u) not in counted_only),
            now,
        )
        states_of = await conversations.load_states(
            session, [_state_key(u) for u in updates if id(u) not in counted_only]
        )
        # Most steps of window staff need their window: one query for the batch, not one each.
        windows_of = await windows.get_windows(
            session, (m.window_id for m in members_of.values() if m.window_id is not None)
        )
        lookups = _BatchLookups(windows_of)
        outcomes: list[_Outcome] = []
        touched: dict[tuple[str, str], GuardRecord] = {}
        for update in updates:
            # Statements may run on the loop's thread (storage.database.statements_inline):
            # let other tasks in between steps, so a batch never holds the loop for long.
            await asyncio.sleep(0)
            guard = guards_of.get(_guard_key(update))
            if id(update) in counted_only:
                assert guard is not None
                touched[_guard_key(update)] = guard
                interval = self._settings.stranger_reply_interval
                answer = answer_stranger(guard, now, interval)
                outcomes.append(_Outcome([Envelope(update.key, message) for message in answer]))
                continue
            ledger_key = (update.key.channel.value, update.update_id)
            if ledger_key not in fresh:
                logger.info("duplicate update dropped", extra={"update_id": update.update_id})
                outcomes.append(_Outcome())
                continue
            fresh.discard(ledger_key)  # the same update twice in one batch: once only
            before = replace(guard) if guard is not None else None
            member = members_of.get((update.key.channel.value, update.key.user_id))
            row = states_of.get(_state_key(update))
            memo = lookups.memo_for(member)
            if careful:
                outcomes.append(
                    await self._careful_step(session, update, member, row, now, memo, guard)
                )
            else:
                try:
                    outcomes.append(
                        await self._step(session, update, member, row, now, memo, guard)
                    )
                except Exception as error:
                    raise _StepFailed from error
            lookups.keep(member, memo)
            if guard is not None and guard != before:  # a code was tried: keep its count
                touched[_guard_key(update)] = guard
        await guards.save_guards(session, touched.values())
        await self._write(session, updates, outcomes, now)
        return outcomes

    async def _careful_step(
        self,
        session: AsyncSession,
        update: Incoming,
        member: Member | None,
        row: StoredState | None,
        now: datetime,
        memo: dict[str, Any],
        guard: GuardRecord | None,
    ) -> _Outcome:
        """Run one step in a savepoint; a failed step is rolled back and answered."""
        try:
            async with session.begin_nested():
                return await self._step(session, update, member, row, now, memo, guard)
        except InputRejected as rejection:
            # Offer the buttons again so the person can simply pick one.
            offered = row.data.get(CHOICES_KEY, []) if row is not None else []
            choices = tuple(Choice(value, label) for value, label in offered)
            return _Outcome([Envelope(update.key, Outgoing(rejection.user_message, choices))])
        except Exception:
            logger.exception("update failed", extra={"update_id": update.update_id})
            return _Outcome([Envelope(update.key, Outgoing(messages.INTERNAL_ERROR))])

    @staticmethod
    async def _write(
        session: AsyncSession,
        updates: Sequence[Incoming],
        outcomes: Sequence[_Outcome],
        now: datetime,
    ) -> None:
        """Write the batch's states and outbox rows, a statement each."""
        await conversations.save_states(session, [o.state for o in outcomes if o.state])
        for update, outcome in zip(updates, outcomes, strict=True):
            if outcome.clear_state:
                await conversations.delete_state(session, *_state_key(update))
        # The answer to a person's own update is a reply; what the step sends to others
        # (a notice to the editors) is bulk.
        rows = [
            outbox_row(envelope, now, Lane.REPLY if envelope.to == update.key else Lane.BULK)
            for update, o in zip(updates, outcomes, strict=True)
            for envelope in o.envelopes
        ]
        await outbox.enqueue_many(session, rows)

    async def _step(
        self,
        session: AsyncSession,
        update: Incoming,
        member: Member | None,
        row: StoredState | None,
        now: datetime,
        memo: dict[str, Any],
        guard: GuardRecord | None,
    ) -> _Outcome:
        """Run the step `update` answers; return the state and messages to write."""
        key = update.key
        current, data, notices = self._current(row, now)
        ctx = StepContext(session, self._settings, key, member, now, data, memo=memo)
        text = (update.text or "").strip()

        if member is None:
            reply = await try_bind(ctx, update, guard) or unbound_reply()
        elif update.choice is None and text in messages.CANCEL_WORDS:
            reply = Reply([Outgoing(messages.CANCELLED)], MENU_STATE)
        elif (
            update.choice is None
            and text in messages.HELP_WORDS
            and current not in (None, MENU_STATE)  # the menu answers help by role
        ):
            reply = Reply([Outgoing(self._states[current][1].help)], current)
        elif current is None or current == MENU_STATE:
            bound = await try_bind(ctx, update, guard)
            reply = bound or await self._states[MENU_STATE][1].handle(ctx, update)
        else:
            state = self._states[current][1]
            answer = self._with_choice(update, data)
            if answer.choice is None and text in messages.BACK_WORDS:
                reply = await state.back(ctx) if state.back else Reply([], MENU_STATE)
            else:
                reply = await state.handle(ctx, answer)

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
        outcome = _Outcome([Envelope(key, message) for message in out] + ctx.others)
        if to_save is None:
            outcome.clear_state = row is not None
        else:
            outcome.state = conversations.state_row(
                *_state_key(update),
                conversation=self._states[to_save][0].name,
                state=to_save,
                data=ctx.data,
                now=now,
            )
        logger.info(
            "update handled",
            extra={"update_id": update.update_id, "from": current, "to": next_state},
        )
        return outcome

    def _current(
        self, row: StoredState | None, now: datetime
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
        """Map a typed reply ("2" or a label) to the value of the choice last offered.

        A back word (上一步) picks the step's own 返回 choice when it offers one.
        """
        if update.choice is not None or not update.text:
            return update
        offered = [Choice(value, label) for value, label in data.get(CHOICES_KEY, [])]
        typed = update.text
        if typed.strip() in messages.BACK_WORDS:
            typed = messages.LABEL_BACK
        value = resolve_choice(typed, offered)
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


class _BatchLookups:
    """Rows a batch looks up once and hands to the steps of window staff, through their memo.

    The current issue found by one staff step serves the next: staff steps never change an
    issue. A step of anyone else (an editor may open, close or extend one) forgets it.
    """

    def __init__(self, windows_of: dict[int, Window]) -> None:
        self._windows_of = windows_of
        self._shared: dict[str, Any] = {}

    def memo_for(self, member: Member | None) -> dict[str, Any]:
        if member is None or member.role != Role.STAFF:
            return {}
        memo = dict(self._shared)
        if member.window_id is not None:
            memo[MEMO_WINDOW] = self._windows_of.get(member.window_id)
        return memo

    def keep(self, member: Member | None, memo: dict[str, Any]) -> None:
        if member is None or member.role != Role.STAFF:
            self._shared.clear()
        elif MEMO_ISSUE in memo:
            self._shared[MEMO_ISSUE] = memo[MEMO_ISSUE]


def _guard_key(update: Incoming) -> tuple[str, str]:
    return (update.key.channel.value, update.key.chat_id)


def _state_key(update: Incoming) -> tuple[str, str, str]:
    return (update.key.channel.value, update.key.chat_id, update.key.user_id)
