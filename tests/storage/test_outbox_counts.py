"""The outbox counts behind `zhoubao status`: all queued and failed, recently sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

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
