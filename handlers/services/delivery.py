"""Writing messages to the outbox, and reading them back for a channel to send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.types import ChannelKind, ChatKey, Choice, Document, Envelope, Outgoing
from storage.models import Lane, Member, OutboxMessage
from storage.repositories import outbox


def member_key(member: Member) -> ChatKey:
    return ChatKey(ChannelKind(member.channel), member.chat_id, member.user_id)


def to_payload(message: Outgoing) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": message.text}
    if message.choices:
        payload["choices"] = [[c.value, c.label] for c in message.choices]
    if message.document is not None:
        payload["media_type"] = message.document.media_type
    return payload


def from_row(row: OutboxMessage) -> tuple[ChatKey, Outgoing]:
    """Rebuild the recipient and message that `enqueue` stored."""
    payload = row.payload
    choices = tuple(Choice(value, label) for value, label in payload.get("choices", []))
    document = None
    if row.document_name is not None and row.document is not None:
        document = Document(row.document_name, row.document, payload.get("media_type", ""))
    key = ChatKey(ChannelKind(row.channel), row.chat_id, row.user_id)
    return key, Outgoing(payload["text"], choices, document)


def outbox_row(envelope: Envelope, now: datetime, lane: Lane = Lane.BULK) -> dict[str, Any]:
    """The outbox row that queues `envelope` now.

    `lane`: `Lane.REPLY` for the answer to a person's own update (the engine's), which goes
    before prompts, reminders and notices (`Lane.BULK`, the default).
    """
    document = envelope.message.document
    return outbox.queued_row(
        channel=envelope.to.channel.value,
        chat_id=envelope.to.chat_id,
        user_id=envelope.to.user_id,
        payload=to_payload(envelope.message),
        now=now,
        document_name=document.filename if document else None,
        document=document.content if document else None,
        dedupe_key=envelope.dedupe_key,
        lane=lane,
    )


async def enqueue(session: AsyncSession, envelope: Envelope, now: datetime) -> bool:
    """Queue one message; False when its dedupe key was queued before."""
    return await outbox.enqueue(session, outbox_row(envelope, now))
