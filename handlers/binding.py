"""Binding a channel identity to a window and role with a one-time invite code."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.conversation import Reply, StepContext
from handlers.types import Incoming, Outgoing
from storage.models import Role
from storage.repositories import members, windows

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH: Final = 8
_CODE_RE: Final = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def normalise_code(text: str) -> str | None:
    """Return the invite code in `text` (case, spaces and dashes forgiven), or None."""
    candidate = re.sub(r"[\s\-－]", "", text).upper()
    candidate = candidate.removeprefix("/START")
    return candidate if _CODE_RE.match(candidate) else None


async def create_invite(
    session: AsyncSession, window_id: int | None, role: Role, now: datetime, ttl: timedelta
) -> str:
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    await members.create_invite(session, code, window_id, role, now, now + ttl)
    return code


async def try_bind(ctx: StepContext, update: Incoming) -> Reply | None:
    """Bind the sender if the message is an invite code; None when it is not a code."""
    code = normalise_code(update.text or "")
    if code is None:
        return None
    invite = await members.usable_invite(ctx.session, code, ctx.now)
    if invite is None:
        return Reply([Outgoing(messages.INVITE_INVALID)])
    member = await members.bind_member(
        ctx.session,
        invite,
        ctx.key.channel.value,
        ctx.key.user_id,
        ctx.key.chat_id,
        update.display_name,
        ctx.now,
    )
    ctx.member = member
    place = messages.HALL
    if member.window_id is not None:
        window = await windows.get_window(ctx.session, member.window_id)
        place = window.name if window is not None else place
    return Reply([Outgoing(messages.bound(place, member.role))], "menu.main")


def unbound_reply() -> Reply:
    return Reply([Outgoing(messages.WELCOME_UNBOUND)])
