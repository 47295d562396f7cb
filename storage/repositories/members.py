"""Members (channel identities bound to a window and role) and their invite codes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DISPLAY_NAME_LENGTH, Invite, Member


async def get_member(session: AsyncSession, channel: str, user_id: str) -> Member | None:
    result = await session.scalars(
        select(Member).where(
            Member.channel == channel, Member.user_id == user_id, Member.active.is_(True)
        )
    )
    return result.first()


async def get_members(
    session: AsyncSession, identities: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Member]:
    """The active members behind several (channel, user_id) identities, in one query."""
    wanted = set(identities)
    if not wanted:
        return {}
    result = await session.scalars(
        select(Member).where(
            Member.user_id.in_({user_id for _, user_id in wanted}), Member.active.is_(True)
        )
    )
    found = {(m.channel, m.user_id): m for m in result}
    return {key: member for key, member in found.items() if key in wanted}


async def create_invite(
    session: AsyncSession,
    code_hash: str,
    window_id: int | None,
    role: str,
    now: datetime,
    expires_at: datetime,
    key_id: str | None = None,
) -> Invite:
    invite = Invite(
        code_hash=code_hash,
        key_id=key_id,
        window_id=window_id,
        role=role,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(invite)
    await session.flush()
    return invite


async def usable_invite(session: AsyncSession, code_hash: str, now: datetime) -> Invite | None:
    """Return the invite whose code hashes to `code_hash` if it is unused and not expired."""
    invite = await session.get(Invite, code_hash)
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        return None
    return invite


async def usable_invites_of_other_keys(session: AsyncSession, key_id: str, now: datetime) -> int:
    """How many unused, unexpired invites were hashed with a key other than `key_id`."""
    count = await session.scalar(
        select(func.count()).where(
            Invite.used_at.is_(None),
            Invite.expires_at > now,
            Invite.key_id.is_not(None),
            Invite.key_id != key_id,
        )
    )
    return int(count or 0)


async def bind_member(
    session: AsyncSession,
    invite: Invite,
    channel: str,
    user_id: str,
    chat_id: str,
    display_name: str,
    now: datetime,
) -> Member:
    """Bind the identity to the invite's window and role, using up the invite."""
    result = await session.scalars(
        select(Member).where(Member.channel == channel, Member.user_id == user_id)
    )
    member = result.first()
    if member is None:
        member = Member(channel=channel, user_id=user_id, bound_at=now)
        session.add(member)
    member.chat_id = chat_id
    # The channel chooses the name and it only labels the member: one longer than the column
    # is cut, not refused by PostgreSQL (SQLite would keep it whole).
    member.display_name = display_name[:DISPLAY_NAME_LENGTH]
    member.window_id = invite.window_id
    member.role = invite.role
    member.bound_at = now
    member.active = True
    await session.flush()
    invite.used_at = now
    invite.used_by = member.id
    await session.flush()
    return member


async def members_of_window(session: AsyncSession, window_id: int) -> list[Member]:
    result = await session.scalars(
        select(Member)
        .where(Member.window_id == window_id, Member.active.is_(True))
        .order_by(Member.id)
    )
    return list(result.all())


async def members_with_role(session: AsyncSession, role: str) -> list[Member]:
    result = await session.scalars(
        select(Member).where(Member.role == role, Member.active.is_(True)).order_by(Member.id)
    )
    return list(result.all())
