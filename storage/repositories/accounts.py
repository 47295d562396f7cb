"""Console accounts, their sessions and the login throttle: the rows (the rules: bot.console)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, LoginThrottle, WebSession


async def add_account(
    session: AsyncSession,
    login: str,
    display_name: str,
    role: str,
    password_hash: str,
    now: datetime,
) -> Account:
    account = Account(
        login=login,
        display_name=display_name,
        role=role,
        password_hash=password_hash,
        active=True,
        created_at=now,
        password_changed_at=now,
    )
    session.add(account)
    await session.flush()
    return account


async def account_by_login(session: AsyncSession, login: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.login == login))


async def set_password_hash(
    session: AsyncSession, account: Account, password_hash: str, now: datetime
) -> None:
    """A new password ends every session of the account."""
    account.password_hash = password_hash
    account.password_changed_at = now
    await revoke_sessions_of(session, account.id, now)


async def open_session(session: AsyncSession, row: WebSession) -> None:
    session.add(row)
    await session.flush()


async def live_session(
    session: AsyncSession, token_hash: str, now: datetime
) -> tuple[WebSession, Account] | None:
    """The session of a cookie's token: not revoked, not expired, its account active."""
    found = (
        await session.execute(
            select(WebSession, Account)
            .join(Account, Account.id == WebSession.account_id)
            .where(
                WebSession.token_hash == token_hash,
                WebSession.revoked_at.is_(None),
                WebSession.expires_at > now,
                Account.active.is_(True),
            )
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])


async def revoke_session(session: AsyncSession, token_hash: str, now: datetime) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.token_hash == token_hash, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_sessions_of(session: AsyncSession, account_id: int, now: datetime) -> int:
    result = await session.execute(
        update(WebSession)
        .where(WebSession.account_id == account_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def throttle(session: AsyncSession, key: str) -> LoginThrottle | None:
    return await session.get(LoginThrottle, key)


async def count_failure(
    session: AsyncSession, key: str, now: datetime, window_started_after: datetime
) -> LoginThrottle:
    """Count one failed login under `key`; a count older than the window starts again."""
    row = await session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now, locked_until=None)
        session.add(row)
    elif row.window_started_at <= window_started_after:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    await session.flush()
    return row


async def clear_failures(session: AsyncSession, key: str) -> None:
    row = await session.get(LoginThrottle, key)
    if row is not None:
        await session.delete(row)
