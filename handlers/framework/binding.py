"""Binding a channel identity to a window and role with a one-time invite code; strangers.

An invite code is 12 symbols of an alphabet without look-alikes (about 59.5 bits), shown
grouped (ABCD-EFGH-JKMN) and accepted with or without the dashes, spaces or case. Only its
keyed hash is stored. A chat that sends 5 wrong codes within an hour is refused codes for an
hour, and the editors are told once a day per chat.

A chat no member uses (a stranger) is answered at most once per
`HandlerSettings.stranger_reply_interval`; its other messages are only counted in its guard.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.framework.conversation import Reply, StepContext
from handlers.services.draft_delivery import notify_editors
from handlers.settings import HandlerSettings
from handlers.types import Incoming, Outgoing
from storage.models import Role
from storage.repositories import members, windows
from storage.repositories.guards import GuardRecord

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH: Final = 12  # 12 × log2(31) ≈ 59.5 bits
GROUP: Final = 4  # shown as ABCD-EFGH-JKMN
MAX_WRONG_CODES: Final = 5  # wrong codes within LOCKOUT that lock a chat out
LOCKOUT: Final = timedelta(hours=1)

# What may separate the groups of a typed code: spaces, dashes of any width, dots, underscores.
_SEPARATORS: Final = re.compile(r"[\s\-‐‑‒–—―－_.·•]+")
# Anything a person may have meant as a code: 8–16 Latin letters and digits (an old 8-symbol
# code, a new one with a symbol missing or added, look-alikes included) with a letter (not a
# phone number or a figure) and a digit, or the code's length, or groups joined by dashes (so
# that an English word is not taken for one).
_CODE_LIKE: Final = re.compile(r"^[A-Z0-9]{8,16}$")
_DASHED_GROUPS: Final = re.compile(r"^[A-Z0-9]{2,6}(?:\s*[-‐‑‒–—―－]\s*[A-Z0-9]{2,6})+$")
_VALID: Final = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def normalise_code(text: str) -> str | None:
    """The code-like text in `text` (case, width, dashes and spaces forgiven), or None.

    A code-like text is not necessarily a valid code (`is_valid_code`): it is answered as a
    code, right or wrong, and a wrong one counts against the chat.
    """
    typed = unicodedata.normalize("NFKC", text).upper().strip()
    typed = typed.removeprefix("/START").strip()
    candidate = _SEPARATORS.sub("", typed)
    if not _CODE_LIKE.match(candidate) or candidate.isdigit():
        return None
    if (
        len(candidate) != CODE_LENGTH
        and not any(char.isdigit() for char in candidate)
        and not _DASHED_GROUPS.match(typed)
    ):
        return None
    return candidate


def is_valid_code(code: str) -> bool:
    """Whether `code` (normalised) has the shape of a code zhoubao issues."""
    return _VALID.match(code) is not None


def format_code(code: str) -> str:
    """The code grouped for reading aloud: ABCD-EFGH-JKMN."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def hash_code(key: bytes, code: str) -> str:
    """The keyed hash stored for `code` (HMAC-SHA256, hex)."""
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A name for the key, stored with each invite; it gives nothing of the key away."""
    return hmac.new(key, b"zhoubao invite key id", hashlib.sha256).hexdigest()[:16]


async def codes_of_other_keys(
    session: AsyncSession, settings: HandlerSettings, now: datetime
) -> int:
    """Unused invites this process cannot recognise: hashed with another invite.key."""
    return await members.usable_invites_of_other_keys(session, key_id(settings.invite_key), now)


async def create_invite(
    session: AsyncSession,
    settings: HandlerSettings,
    window_id: int | None,
    role: Role,
    now: datetime,
) -> str:
    """Store a new invite and return its code, which is not stored and cannot be shown again."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    code_hash = hash_code(settings.invite_key, code)
    await members.create_invite(
        session,
        code_hash,
        window_id,
        role,
        now,
        now + settings.invite_ttl,
        key_id(settings.invite_key),
    )
    return code


def code_of(update: Incoming) -> str | None:
    """The code-like text the update carries, if it is typed text (not a button)."""
    if update.choice is not None or not update.text:
        return None
    return normalise_code(update.text)


def is_locked(guard: GuardRecord, now: datetime) -> bool:
    return guard.locked_until is not None and now < guard.locked_until


def seen(guard: GuardRecord, now: datetime) -> None:
    """Count one more message from the guard's chat."""
    guard.messages += 1
    guard.last_seen_at = now


def answer_stranger(guard: GuardRecord, now: datetime, interval: timedelta) -> list[Outgoing]:
    """A stranger's message that is not an attempt at a code: counted, answered once a while."""
    seen(guard, now)
    if guard.answered_at is not None and now - guard.answered_at < interval:
        return []
    guard.answered_at = now
    return [Outgoing(messages.INVITE_LOCKED if is_locked(guard, now) else messages.WELCOME_UNBOUND)]


def _wrong_code(guard: GuardRecord, now: datetime) -> bool:
    """Count a wrong code; True when it locks the chat out."""
    if guard.wrong_since is None or now - guard.wrong_since >= LOCKOUT:
        guard.wrong_codes, guard.wrong_since = 0, now
    guard.wrong_codes += 1
    if guard.wrong_codes < MAX_WRONG_CODES:
        return False
    guard.locked_until = now + LOCKOUT
    guard.wrong_codes, guard.wrong_since = 0, None
    return True


async def try_bind(ctx: StepContext, update: Incoming, guard: GuardRecord | None) -> Reply | None:
    """Bind the sender if the message is a code; None when it is not code-like.

    `guard` is the chat's guard (the engine loads one for every code-like message).
    """
    code = code_of(update)
    if code is None:
        return None
    if guard is None:
        guard = GuardRecord.new(ctx.key.channel.value, ctx.key.chat_id, ctx.now)
    if ctx.member is None:
        seen(guard, ctx.now)
    guard.answered_at = ctx.now
    if is_locked(guard, ctx.now):
        return Reply([Outgoing(messages.INVITE_LOCKED)])  # not even looked up: no oracle
    invite = None
    if is_valid_code(code):
        code_hash = hash_code(ctx.settings.invite_key, code)
        invite = await members.usable_invite(ctx.session, code_hash, ctx.now)
    if invite is None:
        if is_valid_code(code) and await codes_of_other_keys(ctx.session, ctx.settings, ctx.now):
            logger.warning(
                "invite code not recognised while unused invites of another invite key exist: "
                "every server needs the same invite.key"
            )
        if not _wrong_code(guard, ctx.now):
            return Reply([Outgoing(messages.INVITE_INVALID)])
        await _tell_editors(ctx, update)
        return Reply([Outgoing(messages.INVITE_INVALID), Outgoing(messages.INVITE_LOCKED)])
    guard.wrong_codes, guard.wrong_since = 0, None
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
    return Reply.to_menu([Outgoing(messages.bound(place, member.role))])


async def _tell_editors(ctx: StepContext, update: Incoming) -> None:
    """Tell the editors about a chat locked out, once a day per chat."""
    key = ctx.key
    text = messages.invite_guessing(
        key.channel.value, update.display_name, key.chat_id, MAX_WRONG_CODES
    )
    day = ctx.now.date().isoformat()
    await notify_editors(
        ctx.session, Outgoing(text), f"guessing:{key.channel.value}:{key.chat_id}:{day}", ctx.now
    )


def unbound_reply() -> Reply:
    return Reply([Outgoing(messages.WELCOME_UNBOUND)])
