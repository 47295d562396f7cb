"""Who may use the console: passwords (argon2), logins throttled, sessions in the database.

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
  parameter set); a hash made with older parameters is upgraded at the next login.
- A failed login counts against the account name and against the address; past the limit
  within the window either is locked for a while, and the person is told until when. A
  wrong name costs what a wrong password costs (a hash is verified either way), so the time a
  refusal takes does not tell which names exist.
- A login opens a session: a random token goes into the cookie, its SHA-256 into
  `web_sessions` with the session's CSRF token; it ends when revoked (log out, a new
  password, an administrator), after `idle` without a request, or `longest` after the login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console import messages
from storage.models import Account, Role, WebSession
from storage.repositories import accounts

CONSOLE_ROLES: Final = frozenset({Role.EDITOR, Role.INSPECTOR, Role.ADMIN})
MIN_PASSWORD_CHARS: Final = 10
MAX_PASSWORD_CHARS: Final = 200  # argon2 takes any length; a form field need not


@dataclass(frozen=True, slots=True)
class Policy:
    failures_per_login: int = 5
    failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    idle: timedelta = timedelta(hours=12)
    longest: timedelta = timedelta(days=7)


_hasher = PasswordHasher()
# Verified against when the name is unknown, so that a refusal costs the same either way.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class PasswordRejected(ValueError):
    """A new password that may not be used; `message` says why, in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejected(messages.password_too_short(MIN_PASSWORD_CHARS))
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRejected(messages.password_too_long(MAX_PASSWORD_CHARS))
    return _hasher.hash(password)


def _verified(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_matches(web_session: WebSession, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(web_session.csrf_token, submitted)


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: Account
    token: str  # for the cookie; only its hash is stored
    web_session: WebSession


@dataclass(frozen=True, slots=True)
class Refused:
    message: str  # what the login page says, in Chinese


async def log_in(
    session: AsyncSession,
    login: str,
    password: str,
    address: str,
    now: datetime,
    policy: Policy = Policy(),
) -> LoggedIn | Refused:
    """Check a login and open a session; the caller commits. Never raises for bad input."""
    login = login.strip()[:64]
    keys = (f"login:{login.casefold()}", f"address:{address}")
    for key in keys:
        row = await accounts.throttle(session, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            return Refused(messages.locked_until(row.locked_until))
    account = await accounts.account_by_login(session, login) if login else None
    good = _verified(account.password_hash if account else _DUMMY_HASH, password[:1000])
    allowed = account is not None and account.active and Role(account.role) in CONSOLE_ROLES
    if account is None or not good or not allowed:
        locked = None
        limits = (policy.failures_per_login, policy.failures_per_address)
        for key, limit in zip(keys, limits, strict=True):
            row = await accounts.count_failure(session, key, now, now - policy.window)
            if row.failures >= limit:
                row.locked_until = now + policy.lockout
                locked = row.locked_until
        return Refused(messages.locked_until(locked) if locked else messages.WRONG_LOGIN)
    await accounts.clear_failures(session, keys[0])
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_hash=token_hash(token),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + policy.idle, now + policy.longest),
        revoked_at=None,
        address=address[:64],
    )
    await accounts.open_session(session, web_session)
    return LoggedIn(account, token, web_session)


async def session_of(
    session: AsyncSession, token: str | None, now: datetime, policy: Policy = Policy()
) -> tuple[WebSession, Account] | None:
    """The live session of a cookie's token, its idle expiry moved on; None to log in again."""
    if not token or len(token) > 200:
        return None
    found = await accounts.live_session(session, token_hash(token), now)
    if found is None:
        return None
    web_session, account = found
    web_session.last_seen_at = now
    web_session.expires_at = min(now + policy.idle, web_session.created_at + policy.longest)
    return web_session, account


async def log_out(session: AsyncSession, token: str, now: datetime) -> None:
    await accounts.revoke_session(session, token_hash(token), now)
