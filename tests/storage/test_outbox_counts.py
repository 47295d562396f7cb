"""The outbox queries behind `zhoubao status`: its counts and the newest failed messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import outbox

NOW = datetime(2022, 9, 16, 4, tzinfo=UTC)


def _message(status: OutboxStatus, at: datetime) -> OutboxMessage:
    return OutboxMessage(
        channel="telegram", chat_id="1", user_id="1", payload={"text": "x"}, status=status,
        created_at=at, next_attempt_at=at,
    )  # fmt: skip


async def test_sent_counted_only_within_window_when_outbox_holds_old_messages(
    session: AsyncSession,
) -> None:
    old, recent = NOW - timedelta(days=30), NOW - timedelta(days=1)
    session.add_all(
        [
            _message(OutboxStatus.SENT, old),
            _message(OutboxStatus.SENT, recent),
            _message(OutboxStatus.QUEUED, old),
            _message(OutboxStatus.FAILED, old),
            _message(OutboxStatus.FAILED, recent),
        ]
    )
    await session.commit()

    counts = await outbox.recent_counts(session, NOW - timedelta(days=7))

    assert counts == {"queued": 1, "failed": 2, "sent": 1}
    assert await outbox.failed_count(session) == 2


async def test_counts_are_zero_when_outbox_is_empty(session: AsyncSession) -> None:
    counts = await outbox.recent_counts(session, NOW - timedelta(days=7))

    assert counts == {"queued": 0, "failed": 0, "sent": 0}
    assert await outbox.failed_count(session) == 0
    assert await outbox.failed_messages(session) == []


async def test_sent_counted_from_since_inclusive_when_sent_exactly_then(
    session: AsyncSession,
) -> None:
    since = NOW - timedelta(days=7)
    session.add_all(
        [
            _message(OutboxStatus.SENT, since),
            _message(OutboxStatus.SENT, since - timedelta(microseconds=1)),
        ]
    )
    await session.commit()

    assert (await outbox.recent_counts(session, since))["sent"] == 1


async def test_recent_counts_rejects_naive_since_as_every_stored_datetime_does(
    session: AsyncSession,
) -> None:
    # The prebuilt statement's parameter must still go through UTCDateTime.
    with pytest.raises(StatementError, match="naive datetime"):
        await outbox.recent_counts(session, datetime(2022, 9, 9, 4))  # noqa: DTZ001


async def test_failed_messages_are_the_newest_failed_first_when_limited(
    session: AsyncSession,
) -> None:
    messages = [
        _message(status, NOW - timedelta(hours=n))
        for n, status in enumerate(
            [OutboxStatus.FAILED, OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.QUEUED] * 3
        )
    ]
    session.add_all(messages)
    await session.commit()
    failed_ids = sorted((m.id for m in messages if m.status == OutboxStatus.FAILED), reverse=True)

    newest_two = await outbox.failed_messages(session, limit=2)
    every_one = await outbox.failed_messages(session, limit=20)

    assert [m.id for m in newest_two] == failed_ids[:2]
    assert [m.id for m in every_one] == failed_ids


async def test_failed_messages_leave_the_document_unloaded_when_a_draft_failed(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    draft = _message(OutboxStatus.FAILED, NOW)
    draft.document_name, draft.document = "周报.docx", b"PK" * 50_000
    draft.last_error = "Forbidden: bot was blocked by the user"
    session.add(draft)
    await session.commit()

    async with session_maker() as fresh:
        (found,) = await outbox.failed_messages(fresh)
        assert (found.id, found.document_name, found.last_error) == (
            draft.id,
            "周报.docx",
            "Forbidden: bot was blocked by the user",
        )
        assert "document" in inspect(found).unloaded
