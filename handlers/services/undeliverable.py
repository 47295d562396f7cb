"""Telling the editors when a person cannot be reached (a chat that blocked the bot)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.services.delivery import enqueue, member_key
from handlers.services.draft_delivery import editors
from handlers.types import Envelope, Outgoing
from storage.repositories import members, windows


async def report_undeliverable(
    session: AsyncSession, channel: str, chat_id: str, user_id: str, now: datetime
) -> int:
    """Queue a notice to every editor, once a day per unreachable chat; return how many."""
    member = await members.get_member(session, channel, user_id)
    who = member.display_name if member is not None and member.display_name else user_id
    place = messages.HALL
    if member is not None and member.window_id is not None:
        window = await windows.get_window(session, member.window_id)
        place = window.name if window is not None else place
    text = messages.undeliverable(who, place)
    queued = 0
    for editor in await editors(session):
        if (editor.channel, editor.chat_id) == (channel, chat_id):
            continue  # it would go to the very chat that cannot be reached
        key = f"undeliverable:{channel}:{chat_id}:{now.date().isoformat()}:{editor.id}"
        queued += await enqueue(session, Envelope(member_key(editor), Outgoing(text), key), now)
    return queued
