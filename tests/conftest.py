"""Fixtures shared by every test of the project.

Database fixtures, from the bottom up:

- `db_url`: a throwaway, empty database; parametrised, so a test using it (or anything built on
  it) runs once on `sqlite` (a file under `tmp_path`) and once on `postgresql`. The PostgreSQL
  server comes from `ZHOUBAO_TEST_DATABASE_URL`, e.g.
  `postgresql+asyncpg://postgres@127.0.0.1:5432/test`; each test gets a database of its own,
  created in that server and dropped afterwards. Unset (a laptop), the `postgresql` runs are
  skipped; set but unreachable (CI), they fail. Select one backend with `-k sqlite`.
- `engine`: an engine on `db_url` with every migration applied.
- `session_maker`: `storage.database.session_factory(engine)`.
- `session`: one `AsyncSession`, closed afterwards. Tests may commit: the database is thrown
  away after the test anyway.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_raw_engine
from sqlalchemy.pool import NullPool

from storage.database import create_engine, migrate, session_factory

POSTGRES_ENV = "ZHOUBAO_TEST_DATABASE_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty database of its own (see the module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'zhoubao.sqlite3'}"
        return
    server_url = os.environ.get(POSTGRES_ENV)
    if not server_url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    async with _fresh_postgres_database(server_url) as url:
        yield url


@asynccontextmanager
async def _fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """Create a database next to the one `server_url` names, yield its URL, then drop it."""
    server = make_url(server_url)
    name = f"zb_test_{secrets.token_hex(6)}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_raw_engine(
        server, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 10}
    )
    try:
        problem: str | None = None
        try:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except Exception as error:  # any failure here means the server cannot be used
            problem = f"{type(error).__name__}: {error}"
        if problem is not None:
            # Fail rather than skip: whoever set the variable expects these tests to run.
            pytest.fail(
                f"{POSTGRES_ENV} is set but PostgreSQL at "
                f"{server.render_as_string(hide_password=True)} cannot be used: {problem}",
                pytrace=False,
            )
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


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
