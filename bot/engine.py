"""The conversation engine: it batches updates, isolates each turn, and commits.

Per update: drop it if the ledger has seen its id, load the sender's member and
conversation state, run the turn (`handlers.framework.runtime`: routing, steps, prompts,
the menu), save the new state and write every reply to the outbox (the answers to the sender
in the reply lane). A channel sends from the outbox afterwards, so a crash loses no answer
(delivery is at least once: it may repeat the few on their way), and a restart resumes each
chat at the step it was at.

Group commit: the updates that arrive while a commit is under way are handled together in
the next transaction (at most `MAX_BATCH`), with one multi-row statement each for the
ledger, the members, the states and the outbox. A chat has at most one update in a batch
(its lock is held until the commit), so each chat's steps stay in order, and `handle`
returns only once its update is committed. Each turn runs in its own savepoint: a rejected
answer or a failed step is rolled back alone, and no step runs more than once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from handlers.framework.runtime import Runtime, Turn
from handlers.registry import REGISTRY
from handlers.services.delivery import outbox_row
from handlers.settings import HandlerSettings
from handlers.types import ChatKey, Envelope, Incoming
from storage.database import SQLITE_BEGIN_OPTION, statements_inline
from storage.errors import is_unreachable
from storage.models import Lane, Member
from storage.repositories import conversations, guards, members, outbox, windows
from storage.repositories.guards import GuardRecord

logger = logging.getLogger(__name__)

# Most updates committed together. Each batch costs a few milliseconds whatever its size (the
# batch's statements, the commit, the hand-offs around them): at 2,000 chats typing at once,
# batches of 256 made 3,800 turns/s against 3,000 with 64 and 2,600 with 32 (benchmarks/turns.py).
# A batch never holds the event loop: the engine yields between its steps.
MAX_BATCH: Final = 256

# A batch always writes, so on SQLite it takes the write lock at once: a deferred
# transaction would fail, not wait, when another connection wrote between its read and its
# first write. It also makes savepoints work under pysqlite's transaction handling.
_WRITE_TRANSACTION: Final = {SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"}


@dataclass(slots=True)
class _Pending:
    update: Incoming
    done: asyncio.Future[list[Envelope]]


class Engine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: HandlerSettings,
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._runtime = Runtime(REGISTRY, settings)  # checks every conversation's declaration
        self._clock = clock
        self._metrics = metrics if metrics is not None else Metrics()
        self._locks: dict[ChatKey, asyncio.Lock] = {}
        self._lock_users: dict[ChatKey, int] = {}
        self._pending: list[_Pending] = []
        self._committer: asyncio.Task[None] | None = None

    @property
    def _settings(self) -> HandlerSettings:
        """The handlers' settings (a test swaps them to lay drafts out as PDF)."""
        return self._runtime.settings

    @_settings.setter
    def _settings(self, settings: HandlerSettings) -> None:
        self._runtime.settings = settings

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
            member = await members.get_member(session, key.channel.value, key.user_id)
            savepoint = await session.begin_nested()
            turn = await self._runtime.resume(session, key, member, row, now)
            await (savepoint.commit() if turn.keep_changes else savepoint.rollback())
            if turn.state is not None:
                await conversations.save_states(session, [turn.state])
            await outbox.enqueue_many(
                session, [outbox_row(e, now, Lane.REPLY) for e in turn.envelopes]
            )
        return turn.envelopes

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
            results = await self._run_batch(batch)
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

    async def _run_batch(self, batch: Sequence[_Pending]) -> list[list[Envelope]]:
        """Handle the batch in one transaction; return each update's queued messages."""
        now = self._clock()
        updates = [pending.update for pending in batch]
        async with self._sessions() as session, session.begin():
            await session.connection(execution_options=_WRITE_TRANSACTION)
            async with statements_inline(session):
                turns = await self._run_turns(session, updates, now)
        return [turn.envelopes for turn in turns]

    async def _run_turns(
        self, session: AsyncSession, updates: Sequence[Incoming], now: datetime
    ) -> list[Turn]:
        """Record the updates in the ledger, run their turns, write what they leave.

        A stranger's message (from someone no member is, and not an attempt at an invite
        code) costs no ledger row and no state: it is counted in its chat's guard and answered
        at most once per interval, which also keeps a redelivered one from being answered
        twice. Attempts at a code are recorded in the ledger like members' updates, unless
        the chat is locked out (then they are only counted too).
        """
        runtime = self._runtime
        members_of = await members.get_members(
            session, ((u.key.channel.value, u.key.user_id) for u in updates)
        )
        is_member = {id(u): (u.key.channel.value, u.key.user_id) in members_of for u in updates}
        guarded = [u for u in updates if runtime.needs_guard(u, is_member[id(u)])]
        guards_of = await guards.load_guards(session, (_guard_key(u) for u in guarded))
        for update in guarded:
            guards_of.setdefault(_guard_key(update), GuardRecord.new(*_guard_key(update), now))
        counted_only = {
            id(u)
            for u in guarded
            if runtime.counted_only(u, is_member[id(u)], guards_of[_guard_key(u)], now)
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
        lookups = runtime.lookups(windows_of)
        turns: list[Turn] = []
        touched: dict[tuple[str, str], GuardRecord] = {}
        for update in updates:
            # Statements may run on the loop's thread (storage.database.statements_inline):
            # let other tasks in between steps, so a batch never holds the loop for long.
            await asyncio.sleep(0)
            guard = guards_of.get(_guard_key(update))
            if id(update) in counted_only:
                assert guard is not None
                touched[_guard_key(update)] = guard
                turns.append(runtime.answer_stranger(update, guard, now))
                continue
            ledger_key = (update.key.channel.value, update.update_id)
            if ledger_key not in fresh:
                logger.info("duplicate update dropped", extra={"update_id": update.update_id})
                turns.append(Turn())
                continue
            fresh.discard(ledger_key)  # the same update twice in one batch: once only
            before = replace(guard) if guard is not None else None
            member = members_of.get((update.key.channel.value, update.key.user_id))
            memo = lookups.memo_for(member)
            turn = await self._isolated(session, update, member, states_of, now, memo, guard)
            turns.append(turn)
            lookups.keep(member, memo, turn.keep_changes)
            if guard is not None and guard != before:  # a code was tried: keep its count
                touched[_guard_key(update)] = guard
        await guards.save_guards(session, touched.values())
        await self._write(session, updates, turns, now)
        return turns

    async def _isolated(
        self,
        session: AsyncSession,
        update: Incoming,
        member: Member | None,
        states_of: dict[tuple[str, str, str], conversations.StoredState],
        now: datetime,
        memo: dict[str, Any],
        guard: GuardRecord | None,
    ) -> Turn:
        """Run one turn in its own savepoint: kept, or rolled back alone (and answered)."""
        savepoint = await session.begin_nested()
        try:
            turn = await self._runtime.turn(
                session, update, member, states_of.get(_state_key(update)), now, memo, guard
            )
        except Exception:
            await savepoint.rollback()
            logger.exception("update failed", extra={"update_id": update.update_id})
            return self._runtime.failed(update)
        await (savepoint.commit() if turn.keep_changes else savepoint.rollback())
        return turn

    @staticmethod
    async def _write(
        session: AsyncSession, updates: Sequence[Incoming], turns: Sequence[Turn], now: datetime
    ) -> None:
        """Write the batch's states, deleted states and outbox rows, a statement each."""
        await conversations.save_states(session, [t.state for t in turns if t.state])
        await conversations.delete_states(
            session, [_state_key(u) for u, t in zip(updates, turns, strict=True) if t.clear_state]
        )
        # The answer to a person's own update is a reply; what the step sends to others
        # (a notice to the editors) is bulk.
        rows = [
            outbox_row(envelope, now, Lane.REPLY if envelope.to == update.key else Lane.BULK)
            for update, t in zip(updates, turns, strict=True)
            for envelope in t.envelopes
        ]
        await outbox.enqueue_many(session, rows)


def _guard_key(update: Incoming) -> tuple[str, str]:
    return (update.key.channel.value, update.key.chat_id)


def _state_key(update: Incoming) -> tuple[str, str, str]:
    return (update.key.channel.value, update.key.chat_id, update.key.user_id)
