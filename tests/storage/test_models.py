"""Values survive a round trip through the database, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    Issue,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    Role,
    StatisticFigure,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 8, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)


def _issue() -> Issue:
    return Issue(
        year=2022,
        number=31,
        total_number=406,
        period_start=date(2022, 7, 25),
        period_end=date(2022, 7, 29),
        opened_at=NOW,
    )


def _outbox_message(payload: dict[str, Any] | None = None) -> OutboxMessage:
    return OutboxMessage(
        channel="telegram",
        chat_id="42",
        user_id="42",
        payload=payload or {"text": "hello"},
        created_at=NOW,
        next_attempt_at=NOW,
    )


async def test_aware_datetime_comes_back_as_the_same_instant_in_utc(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    session.add(ProcessedUpdate(channel="telegram", update_id="1", processed_at=NOW))
    await session.commit()

    async with session_maker() as fresh:
        stored = await fresh.scalar(select(ProcessedUpdate.processed_at))

    assert stored == datetime(2022, 8, 1, 1, 30, 15, 123456, tzinfo=UTC)
    assert stored is not None and stored.tzinfo is UTC


async def test_datetime_filter_compares_instants_when_zones_differ(
    session: AsyncSession,
) -> None:
    session.add(ProcessedUpdate(channel="telegram", update_id="1", processed_at=NOW))
    await session.commit()

    # 01:30:16 UTC is one second after NOW; 09:30:14 Shanghai is one second before.
    later = datetime(2022, 8, 1, 1, 30, 16, tzinfo=UTC)
    earlier = NOW - timedelta(seconds=1)
    before_later = await session.scalars(
        select(ProcessedUpdate.update_id).where(ProcessedUpdate.processed_at < later)
    )
    before_earlier = await session.scalars(
        select(ProcessedUpdate.update_id).where(ProcessedUpdate.processed_at < earlier)
    )
    assert (list(before_later), list(before_earlier)) == (["1"], [])


async def test_naive_datetime_is_refused(session: AsyncSession) -> None:
    naive = datetime(2022, 8, 1, 9, 30)  # noqa: DTZ001 -- the point of the test
    session.add(ProcessedUpdate(channel="telegram", update_id="1", processed_at=naive))

    with pytest.raises(StatementError) as raised:
        await session.flush()

    assert isinstance(raised.value.orig, ValueError)


async def test_json_payload_with_chinese_text_round_trips(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    payload = {
        "text": "请发送本周动态标题：",
        "choices": [
            {"value": "no_news", "label": "本周无动态"},
            {"value": "cancel", "label": "取消"},
        ],
        "count": 3,
        "nested": {"窗口": "商务厅窗口", "none": None, "flag": True},
    }
    session.add(_outbox_message(payload))
    await session.commit()

    async with session_maker() as fresh:
        stored = await fresh.scalar(select(OutboxMessage.payload))

    assert stored == payload


@pytest.mark.parametrize("value", [19691982, 10**12, 2**63 - 1])
async def test_statistic_figure_keeps_big_values(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession], value: int
) -> None:
    issue = _issue()
    session.add(issue)
    await session.flush()
    session.add(
        StatisticFigure(
            issue_id=issue.id,
            category="政务服务事项",
            accepted=value,
            completed=19691982,
            entered_at=NOW,
        )
    )
    await session.commit()

    async with session_maker() as fresh:
        row = (
            await fresh.execute(select(StatisticFigure.accepted, StatisticFigure.completed))
        ).one()

    assert tuple(row) == (value, 19691982)


async def test_outbox_id_autoincrements(session: AsyncSession) -> None:
    messages = [_outbox_message() for _ in range(3)]
    session.add_all(messages)
    await session.commit()

    first = messages[0].id
    assert [message.id for message in messages] == [first, first + 1, first + 2]


async def test_foreign_key_is_enforced_when_referenced_row_is_missing(
    session: AsyncSession,
) -> None:
    session.add(
        Member(
            channel="telegram",
            user_id="42",
            chat_id="42",
            window_id=999,
            role=Role.STAFF,
            bound_at=NOW,
        )
    )

    with pytest.raises(IntegrityError):
        await session.commit()
