"""Console logins on both databases: passwords, throttling, sessions, CSRF.

The clock is a fixed moment passed in; nothing here reads the real time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console import messages
from bot.console.auth import (
    LoggedIn,
    PasswordRejected,
    Policy,
    Refused,
    csrf_matches,
    hash_password,
    log_in,
    log_out,
    session_of,
    token_hash,
)
from scheduler.clock import SHANGHAI
from storage.models import Role, WebSession
from storage.repositories import accounts

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 9, 14, 9, 30, tzinfo=SHANGHAI)
PASSWORD = "正确的密码 horse battery"
POLICY = Policy()


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with the least work: the rules are under test, not the hash's cost (50 ms+)."""
    from argon2 import PasswordHasher

    from bot.console import auth

    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", cheap)
    monkeypatch.setattr(auth, "_DUMMY_HASH", cheap.hash("dummy"))


async def add(sessions: Sessions, login: str = "editor", role: Role = Role.EDITOR) -> int:
    async with sessions() as session, session.begin():
        account = await accounts.add_account(
            session, login, "编辑", role.value, hash_password(PASSWORD), NOW
        )
        return account.id


async def attempt(
    sessions: Sessions, login: str, password: str, at: datetime, address: str = "10.0.0.7"
) -> LoggedIn | Refused:
    async with sessions() as session, session.begin():
        return await log_in(session, login, password, address, at, POLICY)


async def test_the_right_password_opens_a_session_whose_token_is_stored_only_hashed(
    session_maker: Sessions,
) -> None:
    await add(session_maker)

    outcome = await attempt(session_maker, "editor", PASSWORD, NOW)

    assert isinstance(outcome, LoggedIn)
    async with session_maker() as session:
        stored = (await session.scalars(select(WebSession))).one()
    assert stored.token_hash == token_hash(outcome.token) != outcome.token
    async with session_maker() as session, session.begin():
        found = await session_of(session, outcome.token, NOW + timedelta(minutes=5), POLICY)
    assert found is not None and found[1].login == "editor"


@pytest.mark.parametrize("login", ["editor", "nobody"])
async def test_a_wrong_password_or_name_gets_the_same_answer(
    session_maker: Sessions, login: str
) -> None:
    await add(session_maker)

    assert await attempt(session_maker, login, "wrong password!", NOW) == Refused(
        messages.WRONG_LOGIN
    )


async def test_staff_accounts_and_deactivated_ones_cannot_log_in(session_maker: Sessions) -> None:
    await add(session_maker, "staff", Role.STAFF)
    await add(session_maker, "gone")
    async with session_maker() as session, session.begin():
        gone = await accounts.account_by_login(session, "gone")
        assert gone is not None
        gone.active = False

    for login in ("staff", "gone"):
        assert isinstance(await attempt(session_maker, login, PASSWORD, NOW), Refused)


async def test_five_failures_lock_the_account_name_for_a_quarter_hour_even_for_the_right_password(
    session_maker: Sessions,
) -> None:
    await add(session_maker)
    for n in range(POLICY.failures_per_login - 1):
        assert await attempt(session_maker, "editor", "wrong", NOW + timedelta(seconds=n)) == (
            Refused(messages.WRONG_LOGIN)
        )

    fifth = await attempt(session_maker, "editor", "wrong", NOW + timedelta(seconds=10))
    locked_until = NOW + timedelta(seconds=10) + POLICY.lockout
    assert fifth == Refused(messages.locked_until(locked_until))
    assert "09:45" in fifth.message  # Shanghai time
    right = await attempt(session_maker, "editor", PASSWORD, NOW + timedelta(minutes=5))
    assert right == Refused(messages.locked_until(locked_until))

    later = await attempt(session_maker, "editor", PASSWORD, locked_until + timedelta(seconds=1))
    assert isinstance(later, LoggedIn)


async def test_failures_spread_beyond_the_window_never_lock(session_maker: Sessions) -> None:
    await add(session_maker)
    for n in range(POLICY.failures_per_login + 2):  # every second one opens a new window
        at = NOW + n * (POLICY.window / 2)
        assert await attempt(session_maker, "editor", "wrong", at) == Refused(messages.WRONG_LOGIN)


async def test_one_address_trying_many_names_is_locked(session_maker: Sessions) -> None:
    for n in range(POLICY.failures_per_address - 1):
        refused = await attempt(session_maker, f"name{n}", "wrong", NOW, address="203.0.113.9")
        assert refused == Refused(messages.WRONG_LOGIN)

    last = await attempt(session_maker, "name-last", "wrong", NOW, address="203.0.113.9")

    assert last == Refused(messages.locked_until(NOW + POLICY.lockout))
    await add(session_maker)
    other_address = await attempt(session_maker, "editor", PASSWORD, NOW, address="10.0.0.8")
    assert isinstance(other_address, LoggedIn)


async def test_a_session_ends_when_idle_at_the_longest_and_when_logged_out(
    session_maker: Sessions,
) -> None:
    await add(session_maker)
    first = await attempt(session_maker, "editor", PASSWORD, NOW)
    assert isinstance(first, LoggedIn)

    async with session_maker() as session, session.begin():
        assert (
            await session_of(session, first.token, NOW + POLICY.idle + timedelta(1), POLICY) is None
        )

    second = await attempt(session_maker, "editor", PASSWORD, NOW)
    assert isinstance(second, LoggedIn)
    at = NOW
    while at < NOW + POLICY.longest - POLICY.idle:  # used every few hours: alive …
        at += timedelta(hours=6)
        async with session_maker() as session, session.begin():
            assert await session_of(session, second.token, at, POLICY) is not None
    async with session_maker() as session, session.begin():  # … until its longest life
        assert await session_of(session, second.token, NOW + POLICY.longest, POLICY) is None

    third = await attempt(session_maker, "editor", PASSWORD, NOW)
    assert isinstance(third, LoggedIn)
    async with session_maker() as session, session.begin():
        await log_out(session, third.token, NOW)
    async with session_maker() as session, session.begin():
        assert await session_of(session, third.token, NOW, POLICY) is None


async def test_a_new_password_ends_every_session_of_the_account(session_maker: Sessions) -> None:
    await add(session_maker)
    tokens = []
    for _ in range(2):
        outcome = await attempt(session_maker, "editor", PASSWORD, NOW)
        assert isinstance(outcome, LoggedIn)
        tokens.append(outcome.token)

    async with session_maker() as session, session.begin():
        account = await accounts.account_by_login(session, "editor")
        assert account is not None
        new_hash = hash_password("另一个足够长的新密码abc")
        await accounts.set_password_hash(session, account, new_hash, NOW)

    async with session_maker() as session, session.begin():
        for token in tokens:
            assert await session_of(session, token, NOW, POLICY) is None


async def test_csrf_token_must_be_the_sessions_own(session_maker: Sessions) -> None:
    await add(session_maker)
    one = await attempt(session_maker, "editor", PASSWORD, NOW)
    two = await attempt(session_maker, "editor", PASSWORD, NOW)
    assert isinstance(one, LoggedIn) and isinstance(two, LoggedIn)

    assert csrf_matches(one.web_session, one.web_session.csrf_token)
    assert not csrf_matches(one.web_session, two.web_session.csrf_token)
    assert not csrf_matches(one.web_session, None)
    assert not csrf_matches(one.web_session, "")


@pytest.mark.parametrize("token", [None, "", "x" * 10_000, "not-a-token"])
async def test_any_cookie_that_is_not_a_live_token_is_no_session(
    session_maker: Sessions, token: str | None
) -> None:
    async with session_maker() as session, session.begin():
        assert await session_of(session, token, NOW, POLICY) is None


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", messages.password_too_short(10)), ("长" * 201, messages.password_too_long(200))],
)
def test_a_password_too_short_or_too_long_is_refused_in_chinese(
    password: str, message: str
) -> None:
    with pytest.raises(PasswordRejected) as refused:
        hash_password(password)
    assert refused.value.message == message


@pytest.mark.parametrize("login", ["editor", "nobody", ""])
async def test_every_refusal_verifies_one_hash_so_its_time_does_not_tell_names_apart(
    session_maker: Sessions, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    from bot.console import auth

    await add(session_maker)
    verified: list[str] = []
    real = auth._verified  # the one place a hash is checked

    def counting(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(auth, "_verified", counting)

    assert isinstance(await attempt(session_maker, login, "wrong password!", NOW), Refused)
    assert len(verified) == 1
