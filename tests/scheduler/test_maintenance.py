"""The retention job: old ledger rows, messages and strangers go; items and job claims stay."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from scheduler import maintenance
from scheduler.clock import FrozenClock
from scheduler.jobs import JOB_LEDGER, run_due_jobs
from scheduler.maintenance import prune_old_rows
from storage.models import (
    ChatGuard,
    Item,
    OutboxMessage,
    OutboxStatus,
    ProcessedUpdate,
    Role,
)
from storage.repositories import outbox
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import COMMERCE, ITEM, open_week, submit

KEEP = timedelta(days=90)


async def _ledger(app: App) -> set[tuple[str, str]]:
    async with app.sessions() as session:
        rows = await session.execute(select(ProcessedUpdate.channel, ProcessedUpdate.update_id))
        return {(channel, update_id) for channel, update_id in rows.all()}


async def _count(app: App, table: type) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def _outbox(app: App) -> list[tuple[str, datetime]]:
    async with app.sessions() as session:
        rows = await session.execute(select(OutboxMessage.status, OutboxMessage.created_at))
        return [(status, created_at) for status, created_at in rows.all()]


async def _queue(session: AsyncSession, chat: str, now: datetime, status: str) -> None:
    # On a channel no test dispatcher drains, so that it stays as it is written.
    row = outbox.queued_row(
        channel="telegram", chat_id=chat, user_id=chat, payload={"text": "x"}, now=now
    )
    await outbox.enqueue(session, row | {"status": status})


async def test_rows_older_than_retention_pruned_and_items_and_recent_rows_kept(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await submit(staff, "1", ITEM)  # ledger rows, sent messages, an item
    await Person(app, "路人甲", channel).send("你好")  # a stranger's guard and its welcome
    async with app.sessions() as session, session.begin():
        await _queue(session, "never-sent", clock.now(), OutboxStatus.QUEUED)
        await _queue(session, "gave-up", clock.now(), OutboxStatus.FAILED)
    old_ledger = await _ledger(app)
    clock.advance(KEEP + timedelta(days=1))
    await staff.send("1")  # recent: 提交动态 again
    await staff.send("取消")
    recent = (await _ledger(app)) - old_ledger

    deleted = await prune_old_rows(app.sessions, KEEP, clock.now())

    assert await _ledger(app) == recent | {u for u in old_ledger if u[0] == JOB_LEDGER}
    assert deleted["processed_updates"] == len([u for u in old_ledger if u[0] != JOB_LEDGER])
    left = await _outbox(app)
    assert [status for status, _ in left].count(OutboxStatus.QUEUED) == 1  # however old
    sent = [created_at for status, created_at in left if status == OutboxStatus.SENT]
    assert sent and all(created_at > clock.now() - KEEP for created_at in sent)
    assert len(left) == len(sent) + 1  # the old failed one went too
    assert await _count(app, ChatGuard) == 0
    assert await _count(app, Item) == 1


async def test_scheduler_claims_kept_so_no_job_runs_twice_after_prune(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.inbox()
    opened_at = clock.now()
    await run_due_jobs(app.sessions, app.week, opened_at)  # opens the week, prompts the window
    prompted = texts(await staff.inbox())
    claims = {u for u in await _ledger(app) if u[0] == JOB_LEDGER}

    await prune_old_rows(app.sessions, KEEP, opened_at + KEEP * 3)
    done = await run_due_jobs(app.sessions, app.week, opened_at)

    assert len(prompted) == 1 and claims
    assert claims <= await _ledger(app)
    assert done == []
    assert texts(await staff.inbox()) == []


async def test_redelivered_update_still_dropped_when_prune_ran_after_it(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await open_week(app)
    update = staff.incoming("本周无动态", update_id="telegram-123")
    first = await app.engine.handle(update)
    clock.advance(timedelta(days=1))  # Telegram redelivers within a day at most

    await prune_old_rows(app.sessions, KEEP, clock.now())
    second = await app.engine.handle(update)

    assert first and second == []


async def test_prune_deletes_in_batches_and_leaves_the_rest_for_the_next_run(
    app: App, clock: FrozenClock
) -> None:
    old = clock.now() - KEEP - timedelta(days=1)
    async with app.sessions() as session, session.begin():
        session.add_all(
            ProcessedUpdate(channel="telegram", update_id=str(n), processed_at=old)
            for n in range(7)
        )

    first = await prune_old_rows(app.sessions, KEEP, clock.now(), batch=2, max_batches=2)
    second = await prune_old_rows(app.sessions, KEEP, clock.now(), batch=2, max_batches=2)

    assert (first["processed_updates"], second["processed_updates"]) == (4, 3)
    assert await _count(app, ProcessedUpdate) == 0


async def test_other_tables_pruned_when_one_prune_fails(
    app: App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = clock.now() - KEEP - timedelta(days=1)
    async with app.sessions() as session, session.begin():
        session.add(ProcessedUpdate(channel="telegram", update_id="1", processed_at=old))
        await _queue(session, "chat", old, OutboxStatus.SENT)

    async def broken(session: AsyncSession, before: datetime, now: datetime, limit: int) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(maintenance, "PRUNES", (("processed_updates", broken), *PRUNES[1:]))
    with caplog.at_level(logging.ERROR):
        deleted = await prune_old_rows(app.sessions, KEEP, clock.now())

    assert deleted == {"processed_updates": 0, "outbox": 1, "chat_guards": 0}
    assert await _count(app, ProcessedUpdate) == 1
    assert "prune failed" in caplog.text


PRUNES = maintenance.PRUNES
