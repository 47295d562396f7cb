"""Group commit: updates arriving together share one transaction, yet each keeps its own fate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.engine import MAX_BATCH
from handlers import messages
from handlers.types import Envelope, Incoming
from storage.models import Item, Role
from storage.repositories import outbox, submissions
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import (
    COMMERCE,
    ITEM,
    all_items,
    close_current_issue,
    open_week,
    state_of,
)

STAFF = 8


async def _staff_at_preview(app: App, channel: RecordingChannel, count: int) -> list[Person]:
    """`count` staff of one window, each with an item typed and its preview shown."""
    await open_week(app)
    people = [
        await bound_person(app, channel, f"商务厅{i}号", Role.STAFF, COMMERCE) for i in range(count)
    ]
    for i, person in enumerate(people):
        await person.say_all("1", "1", f"{ITEM}（{i}号）")  # 提交动态, a subsection, the text
    return people


@contextmanager
def counted_commits(app: App) -> Iterator[list[int]]:
    """Count the transactions committed while the block runs."""
    commits: list[int] = []

    def on_commit(connection: Any) -> None:
        commits.append(1)

    event.listen(app.database.sync_engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(app.database.sync_engine, "commit", on_commit)


async def _together(app: App, updates: list[Incoming]) -> list[list[Envelope] | BaseException]:
    return await asyncio.gather(
        *(app.engine.handle(update) for update in updates), return_exceptions=True
    )


async def test_updates_arriving_together_committed_in_one_transaction(
    app: App, channel: RecordingChannel
) -> None:
    people = await _staff_at_preview(app, channel, STAFF)

    with counted_commits(app) as commits:
        results = await _together(app, [p.incoming(choice="confirm") for p in people])

    assert len(commits) == 1
    assert sorted(item.text for item in await all_items(app)) == sorted(
        f"{ITEM}（{i}号）" for i in range(STAFF)
    )
    # Run in arrival order inside the batch: the n-th sees the items of the n-1 before it.
    assert [texts([e.message for e in r]) for r in results if not isinstance(r, BaseException)] == [
        [messages.submitted(n)] for n in range(1, STAFF + 1)
    ]
    last = [texts(await person.inbox())[-1] for person in people]
    assert sorted(last) == sorted(messages.submitted(n) for n in range(1, STAFF + 1))
    assert {await state_of(app, person) for person in people} == {"intake.more"}


async def test_more_updates_than_a_batch_committed_in_several(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    strangers = [Person(app, f"路人{i}", channel) for i in range(MAX_BATCH + 6)]

    with counted_commits(app) as commits:
        results = await _together(app, [s.incoming("你好") for s in strangers])

    assert len(commits) == 2
    answers = [[e.message.text for e in r] for r in results if not isinstance(r, BaseException)]
    assert answers == [[messages.WELCOME_UNBOUND]] * len(strangers)


async def test_chat_updates_sent_together_handled_in_order(
    app: App, channel: RecordingChannel
) -> None:
    people = await _staff_at_preview(app, channel, 2)
    first, other = people

    # The text step again, then its confirmation, racing another chat's confirmation.
    await first.send(choice="change")
    updates = [first.incoming("改过的这条动态。"), other.incoming(choice="confirm")]
    updates.append(first.incoming(choice="confirm"))
    results = await _together(app, updates)

    assert not [r for r in results if isinstance(r, BaseException)]
    assert sorted(item.text for item in await all_items(app)) == sorted(
        ["改过的这条动态。", f"{ITEM}（1号）"]
    )
    assert await state_of(app, first) == "intake.more"


async def test_rejected_answer_in_batch_answered_alone(app: App, channel: RecordingChannel) -> None:
    people = await _staff_at_preview(app, channel, 4)
    confused, *others = people

    updates = [p.incoming(choice="confirm") for p in others]
    updates.insert(1, confused.incoming("好的吧"))  # not one of the offered choices
    results = await _together(app, updates)

    assert not [r for r in results if isinstance(r, BaseException)]
    answer = results[1]
    assert not isinstance(answer, BaseException)
    assert [e.message.text for e in answer] == [messages.CHOOSE_NUMBER]
    assert [c.value for c in answer[0].message.choices] == ["confirm", "change", "cancel"]
    assert await state_of(app, confused) == "intake.preview"
    assert len(await all_items(app)) == len(others)


async def test_failed_step_rolled_back_alone_when_it_wrote_first(
    app: App, channel: RecordingChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = await _staff_at_preview(app, channel, 4)
    unlucky = people[2]
    real_window_standing = submissions.window_standing

    async def fail_third(session: AsyncSession, *args: Any) -> Any:
        # Runs just after the step added its item: the third person's step fails having written.
        newest = await session.scalar(select(Item.text).order_by(Item.id.desc()).limit(1))
        if newest is not None and newest.endswith("（2号）"):
            raise RuntimeError("disk on fire")
        return await real_window_standing(session, *args)

    monkeypatch.setattr(submissions, "window_standing", fail_third)
    with counted_commits(app) as commits:
        results = await _together(app, [p.incoming(choice="confirm") for p in people])

    assert len(commits) == 1  # the batch ran again with savepoints, and committed once
    failed = results[2]
    assert not isinstance(failed, BaseException)
    assert [e.message.text for e in failed] == [messages.INTERNAL_ERROR]
    assert await state_of(app, unlucky) == "intake.preview"
    stored = sorted(item.text for item in await all_items(app))
    assert stored == sorted(f"{ITEM}（{i}号）" for i in (0, 1, 3))


async def test_batch_that_cannot_commit_fails_only_the_update_that_broke_it(
    app: App, channel: RecordingChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = await _staff_at_preview(app, channel, 3)
    breaker = people[1]
    real_enqueue_many = outbox.enqueue_many

    async def refuse_breaker(session: Any, rows: Any) -> None:
        if any(row["chat_id"] == breaker.key.chat_id for row in rows):
            raise OSError("the outbox table is on a broken disk")
        await real_enqueue_many(session, rows)

    monkeypatch.setattr(outbox, "enqueue_many", refuse_breaker)
    results = await _together(app, [p.incoming(choice="confirm") for p in people])

    assert isinstance(results[1], OSError)
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert sorted(item.text for item in await all_items(app)) == sorted(
        f"{ITEM}（{i}号）" for i in (0, 2)
    )
    assert await state_of(app, breaker) == "intake.preview"

    monkeypatch.setattr(outbox, "enqueue_many", real_enqueue_many)
    retried = await app.engine.handle(breaker.incoming(choice="confirm"))
    assert texts([e.message for e in retried]) == [messages.submitted(3)]


async def test_cancelled_caller_keeps_its_update_committed(
    app: App, channel: RecordingChannel
) -> None:
    (person,) = await _staff_at_preview(app, channel, 1)

    waiting = asyncio.ensure_future(app.engine.handle(person.incoming(choice="confirm")))
    await asyncio.sleep(0)
    waiting.cancel()
    follow_up = await app.engine.handle(person.incoming(choice="done"))

    assert len(await all_items(app)) == 1
    assert texts([e.message for e in follow_up]) == [messages.finished(1)]


async def test_staff_step_after_editor_extends_in_same_batch_sees_issue_reopened(
    app: App, channel: RecordingChannel
) -> None:
    people = await _staff_at_preview(app, channel, 2)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await close_current_issue(app)
    await editor.send(messages.LABEL_EXTEND)  # offers new deadlines

    updates = [people[0].incoming(choice="confirm"), editor.incoming("2")]
    updates.append(people[1].incoming(choice="confirm"))
    results = await _together(app, updates)

    assert not [r for r in results if isinstance(r, BaseException)]
    late = {item.text: item.late for item in await all_items(app)}
    assert late == {f"{ITEM}（0号）": True, f"{ITEM}（1号）": False}
