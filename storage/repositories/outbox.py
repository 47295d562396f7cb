"""The outbox: messages written in the same transaction as the state change that caused them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, CursorResult, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from storage.models import Lane, OutboxMessage, OutboxStatus
from storage.repositories._upsert import built_for, insert_for


def queued_row(
    *,
    channel: str,
    chat_id: str,
    user_id: str,
    payload: dict[str, Any],
    now: datetime,
    document_name: str | None = None,
    document: bytes | None = None,
    dedupe_key: str | None = None,
    lane: int = Lane.BULK,
) -> dict[str, Any]:
    """The outbox row of a message queued now, for `enqueue_many`."""
    return {
        "lane": int(lane),
        "channel": channel,
        "chat_id": chat_id,
        "user_id": user_id,
        "payload": payload,
        "document_name": document_name,
        "document": document,
        "status": OutboxStatus.QUEUED,
        "attempts": 0,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "next_attempt_at": now,
        "claim_epoch": None,
        "parts_sent": 0,
    }


async def enqueue(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Queue a `queued_row`; False if a message with the same `dedupe_key` was queued before."""
    stmt = (
        insert_for(session, OutboxMessage)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await session.execute(stmt)
    return bool(cast(CursorResult[Any], result).rowcount)


async def enqueue_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Queue `queued_row`s in order (ids ascend, so each chat's messages go out in order).

    A row whose dedupe key was queued before is skipped, as by `enqueue`.
    """
    if not rows:
        return
    stmt = built_for(session, "outbox_insert", _build_outbox_insert)
    await session.execute(stmt, list(rows))


def _build_outbox_insert(insert: Callable[..., Any]) -> Any:
    return insert(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"])


async def due_messages(
    session: AsyncSession,
    channel: str,
    now: datetime,
    *,
    chat_id: str | None = None,
    limit: int = 100,
) -> list[OutboxMessage]:
    """Queued messages of the channel whose time has come, oldest first (for inspection)."""
    stmt = select(OutboxMessage).where(
        OutboxMessage.channel == channel,
        OutboxMessage.status == OutboxStatus.QUEUED,
        OutboxMessage.next_attempt_at <= now,
    )
    if chat_id is not None:
        stmt = stmt.where(OutboxMessage.chat_id == chat_id)
    result = await session.scalars(stmt.order_by(OutboxMessage.id).limit(limit))
    return list(result.all())


def _build_heads(one_chat: bool) -> Any:
    """The head of each chat's queue in its best lane: its oldest reply, else its oldest message.

    Within a lane a chat's messages keep their order; a reply goes before the chat's own bulk
    messages queued earlier (a person who writes during the fan-out is answered at once, and
    their prompt follows). One range scan of `ix_outbox_queue` over the channel's queued rows
    (the years of sent messages are outside it), grouped by chat and lane; the best lane of
    each chat is then ranked first. A head is picked only when it is due (a chat waiting for a
    retry keeps its order), replies first, then the oldest.
    """
    per_lane = select(
        OutboxMessage.chat_id.label("chat_id"),
        OutboxMessage.lane.label("lane"),
        func.min(OutboxMessage.id).label("head"),
    ).where(
        OutboxMessage.status == OutboxStatus.QUEUED,
        OutboxMessage.channel == bindparam("channel"),
    )
    if one_chat:
        per_lane = per_lane.where(OutboxMessage.chat_id == bindparam("chat_id"))
    lanes = per_lane.group_by(OutboxMessage.chat_id, OutboxMessage.lane).subquery("lanes")
    ranked = select(
        lanes.c.head,
        lanes.c.lane,
        func.row_number().over(partition_by=lanes.c.chat_id, order_by=lanes.c.lane).label("rank"),
    ).subquery("heads")
    return (
        select(OutboxMessage.id, OutboxMessage.chat_id, ranked.c.lane)
        .join(ranked, OutboxMessage.id == ranked.c.head)
        .where(ranked.c.rank == 1, OutboxMessage.next_attempt_at <= bindparam("now"))
        .order_by(ranked.c.lane, ranked.c.head)
        .limit(bindparam("limit"))
    )


HEADS = _build_heads(one_chat=False)  # public for the plan checks (benchmarks.queue_plan)
_HEADS_OF_CHAT = _build_heads(one_chat=True)


class Head(NamedTuple):
    """The head of a chat's queue: only what choosing it needs (the row is loaded if claimed)."""

    id: int
    chat_id: str
    lane: int


async def next_heads(
    session: AsyncSession,
    channel: str,
    now: datetime,
    limit: int,
    *,
    chat_id: str | None = None,
) -> list[Head]:
    """The due head of each chat's queue in its best lane, with the lane, replies first.

    A chat with a reply queued offers its oldest reply, even when a bulk message of the chat
    was queued before it: lanes overtake each other, a lane's messages never do.
    """
    params: dict[str, Any] = {"channel": channel, "now": now, "limit": limit}
    if chat_id is not None:
        params["chat_id"] = chat_id
    result = await session.execute(HEADS if chat_id is None else _HEADS_OF_CHAT, params)
    return [Head(int(id_), chat, int(lane)) for id_, chat, lane in result.all()]


async def claim(
    session: AsyncSession,
    ids: Sequence[int],
    epoch: int,
    fence: ColumnElement[bool] | None = None,
) -> list[OutboxMessage]:
    """Claim queued messages for sending under `epoch`; return the rows claimed, loaded.

    One UPDATE … WHERE status = 'queued' (and, given `fence`, while the lease is held at that
    epoch) RETURNING the rows: a message already claimed, sent, or queued by nobody's lease is
    not taken. Only the claimed rows are loaded (payload and document), not every head looked at.
    """
    if not ids:
        return []
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SENDING, claim_epoch=epoch)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    if fence is not None:
        stmt = stmt.where(fence)
    return list((await session.scalars(stmt)).all())


async def unclaim(session: AsyncSession, ids: Sequence[int], epoch: int) -> None:
    """Return messages claimed under `epoch` and not sent to the queue (a lease was lost)."""
    if not ids:
        return
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claim_epoch == epoch,
        )
        .values(status=OutboxStatus.QUEUED, claim_epoch=None)
        .execution_options(synchronize_session=False)
    )


async def has_claims(session: AsyncSession, channel: str) -> bool:
    """Whether any message of the channel is claimed (a range scan of the (status, id) index)."""
    found = await session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.channel == channel)
        .limit(1)
    )
    return found is not None


async def requeue_claims(
    session: AsyncSession,
    channel: str,
    epoch: int | None,
    fence: ColumnElement[bool] | None = None,
) -> int:
    """Return to the queue the channel's claims of `epoch` or earlier (None: every claim).

    Their sender crashed, was stopped, or lost the lease; what it had in flight may have
    reached the chat and is sent again: at least once. Given `fence`, only while the lease is
    still held (a process that lost it leaves the new holder's claims alone).
    """
    stmt = update(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.channel == channel
    )
    if epoch is not None:
        stmt = stmt.where(
            or_(OutboxMessage.claim_epoch.is_(None), OutboxMessage.claim_epoch <= epoch)
        )
    if fence is not None:
        stmt = stmt.where(fence)
    result = await session.execute(
        stmt.values(status=OutboxStatus.QUEUED, claim_epoch=None).execution_options(
            synchronize_session=False
        )
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def mark_sent(session: AsyncSession, message_id: int, now: datetime) -> None:
    await mark_sent_many(session, [message_id], now)


async def mark_sent_many(session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
    """Mark delivered messages sent, in one statement; return how many changed.

    A delivered message is sent whoever claimed it: a holder that lost its lease while the
    send was on its way still records it, so the next holder does not repeat it.
    """
    if not ids:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status != OutboxStatus.SENT)
        .values(
            status=OutboxStatus.SENT,
            sent_at=now,
            attempts=OutboxMessage.attempts + 1,
            claim_epoch=None,
            document=None,  # the file is in the chat now; keep the row small
        )
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def mark_parts(session: AsyncSession, message_id: int, parts_sent: int) -> None:
    """Record that the first `parts_sent` parts of a message reached the chat."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.parts_sent < parts_sent)
        .values(parts_sent=parts_sent)
        .execution_options(synchronize_session=False)
    )


async def mark_retry(
    session: AsyncSession, message_id: int, error: str, next_attempt_at: datetime, epoch: int
) -> bool:
    """Back to the queue, to be tried again at `next_attempt_at`; False if no longer ours.

    Only a claim of `epoch` still on its way is changed: a process that lost the lease while
    the send failed must not put back a message the next holder has claimed or sent since.
    """
    result = await session.execute(
        update(OutboxMessage)
        .where(_still_claimed(message_id, epoch))
        .values(
            status=OutboxStatus.QUEUED,
            claim_epoch=None,
            attempts=OutboxMessage.attempts + 1,
            last_error=error,
            next_attempt_at=next_attempt_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def mark_failed(session: AsyncSession, message_id: int, error: str, epoch: int) -> bool:
    """Give the message up; False if no longer ours (as for `mark_retry`)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(_still_claimed(message_id, epoch))
        .values(
            status=OutboxStatus.FAILED,
            claim_epoch=None,
            attempts=OutboxMessage.attempts + 1,
            last_error=error,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def _still_claimed(message_id: int, epoch: int) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.id == message_id,
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claim_epoch == epoch,
    )


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    """Messages by status, over the whole outbox (a full index scan: not for hot paths)."""
    result = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: count for status, count in result.all()}


# Built once: building a statement costs more than running it on SQLite (see issues.py).
_FAILED_COUNT = select(func.count()).where(OutboxMessage.status == OutboxStatus.FAILED)
# Three scalar subqueries in one round trip, each an index-only range scan of
# (status, next_attempt_at). One scan with count(*) FILTER over `status IN (…) OR (…)` reads
# the same rows but, on PostgreSQL, as a bitmap heap scan of every matching row's page (2.3 ms
# against 0.2 ms on ten years of a 60-window hall); on SQLite it is 5 times slower too.
_RECENT_COUNTS = select(
    select(func.count())
    .where(OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]))
    .scalar_subquery()
    .label(OutboxStatus.QUEUED.value),
    _FAILED_COUNT.scalar_subquery().label(OutboxStatus.FAILED.value),
    select(func.count())
    .where(
        OutboxMessage.status == OutboxStatus.SENT,
        OutboxMessage.next_attempt_at >= bindparam("since"),
    )
    .scalar_subquery()
    .label(OutboxStatus.SENT.value),
)


async def recent_counts(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Queued (or on their way) and failed messages of all time, and those sent since `since`.

    The outbox keeps every message ever sent; counting them all took 30–40 ms on ten years of
    a 60-window hall. These three counts are range scans of the (status, next_attempt_at)
    index: a sent message's last attempt is when it was sent.
    """
    queued, failed, sent = (await session.execute(_RECENT_COUNTS, {"since": since})).one()
    return {
        OutboxStatus.QUEUED.value: int(queued),
        OutboxStatus.FAILED.value: int(failed),
        OutboxStatus.SENT.value: int(sent),
    }


async def defer_chat(
    session: AsyncSession, channel: str, chat_id: str, after_id: int, until: datetime
) -> None:
    """Hold a chat's later queued messages until `until`, so that they keep their order."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.id > after_id,
            OutboxMessage.next_attempt_at < until,
        )
        .values(next_attempt_at=until)
    )


# Newest first by id: a backward scan of the (status, id) index that stops after `limit` rows,
# however many messages have failed over the years. A failed message keeps its document (a
# draft that never reached the editor), which no reader of this list needs: it is not loaded.
_FAILED_MESSAGES = (
    select(OutboxMessage)
    .options(defer(OutboxMessage.document, raiseload=True))
    .where(OutboxMessage.status == OutboxStatus.FAILED)
    .order_by(OutboxMessage.id.desc())
    .limit(bindparam("limit"))
)


async def failed_messages(session: AsyncSession, limit: int = 20) -> list[OutboxMessage]:
    """The most recent messages given up on, newest first, without their documents."""
    result = await session.scalars(_FAILED_MESSAGES, {"limit": limit})
    return list(result.all())


async def failed_count(session: AsyncSession) -> int:
    """Messages given up on (an index range scan)."""
    return int(await session.scalar(_FAILED_COUNT) or 0)
