"""Fixtures shared by every test of the project.

Database fixtures, from the bottom up:

- `db_url`: a throwaway, empty database; parametrised, so a test using it (or anything built on
  it) runs once on `sqlite` (a file under `tmp_path`) and once on `postgresql`. The PostgreSQL
  server comes from `ZHOUBAO_TEST_DATABASE_URL`, e.g.
  `postgresql+asyncpg://postgres@127.0.0.1:5432/test`; each test gets a migrated database
  nobody else is using, with no rows (`PostgresPool`: copied from a template once, emptied with
  TRUNCATE and reused). Unset (a laptop), the `postgresql` runs are skipped; set but
  unreachable (CI), they fail. Select one backend with `-k sqlite`.
- `engine`: an engine on `db_url` with every migration applied.
- `session_maker`: `storage.database.session_factory(engine)`.
- `session`: one `AsyncSession`, closed afterwards. Tests may commit: the database is emptied
  or thrown away after the test anyway.

The application fixtures (`clock`, `app`, `channel`) come from one plugin, `tests/fakes.py`,
registered here for every folder.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_raw_engine
from sqlalchemy.pool import NullPool

from storage.database import create_engine, migrate, session_factory
from storage.models import Base

pytest_plugins = ("tests.fakes",)

POSTGRES_ENV = "ZHOUBAO_TEST_DATABASE_URL"


@dataclass
class PostgresPool:
    """Migrated PostgreSQL databases, emptied and reused between tests.

    Creating a database costs 0.3–0.5 s here even from a template (PostgreSQL checkpoints);
    emptying one with TRUNCATE costs a few milliseconds. Each test still gets a database
    nobody else is using, with no rows in it.
    """

    server_url: str
    template: str
    free: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    async def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"zb_test_{secrets.token_hex(6)}"
        await _admin_sql(self.server_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return name

    async def give_back(self, name: str) -> None:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        engine = create_raw_engine(self.url(name), poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                await connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        except Exception:
            # A test left a connection holding locks: throw this database away instead.
            await _drop_database(self.server_url, name)
            self.made.remove(name)
            return
        finally:
            await engine.dispose()
        self.free.append(name)

    def url(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(False)


@pytest.fixture(scope="session")
def postgres_pool() -> Iterator[PostgresPool | None]:
    """The pool of test databases on `ZHOUBAO_TEST_DATABASE_URL`'s server (None when unset)."""
    server_url = os.environ.get(POSTGRES_ENV)
    if not server_url:
        yield None
        return
    pool = PostgresPool(server_url, f"zb_template_{secrets.token_hex(6)}")
    try:
        asyncio.run(_create_template(server_url, pool.template))
    except Exception as error:  # any failure here means the server cannot be used
        pytest.fail(_unusable(server_url, error), pytrace=False)
    try:
        yield pool
    finally:

        async def drop_all() -> None:
            for name in [*pool.made, pool.template]:
                await _drop_database(server_url, name)

        asyncio.run(drop_all())


async def _create_template(server_url: str, name: str) -> None:
    await _admin_sql(server_url, f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(server_url).set(database=name).render_as_string(False))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _drop_database(server_url: str, name: str) -> None:
    await _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin_sql(server_url: str, sql: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_raw_engine(
        make_url(server_url),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 10},
    )
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(sql)
    finally:
        await admin.dispose()


def _unusable(server_url: str, error: Exception) -> str:
    shown = make_url(server_url).render_as_string(hide_password=True)
    return (
        f"{POSTGRES_ENV} is set but PostgreSQL at {shown} cannot be used: "
        f"{type(error).__name__}: {error}"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_pool: PostgresPool | None
) -> AsyncIterator[str]:
    """Yield the URL of an empty database of its own (see the module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'zhoubao.sqlite3'}"
        return
    if postgres_pool is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    try:
        name = await postgres_pool.take()
    except Exception as error:
        pytest.fail(_unusable(postgres_pool.server_url, error), pytrace=False)
    try:
        yield postgres_pool.url(name)
    finally:
        await postgres_pool.give_back(name)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on a fresh database migrated to head."""
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the application's session maker on the test database."""
    return session_factory(engine)


@pytest.fixture
async def session(session_maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session on the test database; it may commit."""
    async with session_maker() as session:
        yield session
