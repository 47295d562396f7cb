"""Engine, sessions and schema migrations from a database URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from storage import sqlite_driver
from storage.errors import StorageError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"

# Set on every SQLite connection. busy_timeout comes first so that switching a new file to WAL
# also waits for a lock held by another process instead of failing at once.
SQLITE_PRAGMAS: Final = (
    "PRAGMA busy_timeout=5000",  # several `zhoubao chat` processes share one file
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # nothing confirmed may be lost, even on power loss
    "PRAGMA foreign_keys=ON",
)

# Execution option naming the statement that opens a transaction on SQLite. Unset, the driver
# opens a deferred transaction before the first write, as usual.
SQLITE_BEGIN_OPTION: Final = "zhoubao_sqlite_begin"

# How long `migrate` keeps retrying while another process turns a new SQLite file to WAL.
_SQLITE_WAL_SWITCH_TIMEOUT: Final = 5.0

# Arbitrary constant: the key of the PostgreSQL advisory lock held while migrating.
_PG_MIGRATION_LOCK_KEY: Final = 0x7A686F75  # "zhou"

_SUPPORTED: Final = ("sqlite+aiosqlite", "postgresql+asyncpg")


def default_sqlite_url(data_dir: Path) -> str:
    """Return the URL of the SQLite database kept in `data_dir`."""
    return f"sqlite+aiosqlite:///{(data_dir / 'zhoubao.sqlite3').resolve()}"


def create_engine(url: str) -> AsyncEngine:
    """Return an engine for a `sqlite+aiosqlite` or `postgresql+asyncpg` URL.

    Statement parameters (item texts, invite codes) never appear in the engine's log lines
    nor in the messages of its exceptions (`hide_parameters`). Raise `StorageError` for any
    other URL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StorageError(f"not a database URL: {error}") from None
    if parsed.drivername == "sqlite+aiosqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise StorageError(
                "an SQLite database must be a file, e.g. sqlite+aiosqlite:///data/zhoubao.sqlite3"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            async_creator=partial(sqlite_driver.connect, database),
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql+asyncpg":
        return create_async_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    raise StorageError(
        f"unsupported database URL scheme {parsed.drivername!r}; "
        f"use one of: {', '.join(s + '://' for s in _SUPPORTED)}"
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def set_pragmas(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Connection) -> None:
        statement = connection.get_execution_options().get(SQLITE_BEGIN_OPTION)
        if statement is not None:
            connection.exec_driver_sql(statement)


@asynccontextmanager
async def statements_inline(session: AsyncSession) -> AsyncIterator[None]:
    """Run the session's SQLite statements on the event loop thread until the block ends.

    For a transaction that began with BEGIN IMMEDIATE: holding the write lock, its statements
    never wait (WAL), and each costs microseconds, against some 0.1 ms for a hand-off to the
    driver's thread and back. The commit still goes to the thread, so the loop never waits
    for the disk. Does nothing on PostgreSQL.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, sqlite_driver.Connection) or not driver.in_transaction:
        yield
        return
    driver.inline = True
    try:
        yield
    finally:
        driver.inline = False


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session maker whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Return an Alembic configuration for the migrations shipped with this package."""
    cfg = Config()
    # ConfigParser interpolates '%', so a path containing one must be escaped.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema up to the newest migration; do nothing when it is already there.

    Call it at startup, before other work. Safe when several processes start at once: they take
    turns (SQLite's write lock, waited for through busy_timeout; an advisory lock on
    PostgreSQL), and the later ones find the schema at head. On a brand-new SQLite file it also
    waits out the switch to WAL that another process may be making. Do not run two migrations
    concurrently inside one process: Alembic keeps its context in module globals.
    """
    if engine.dialect.name == "sqlite":
        await _wait_until_sqlite_connects(engine)
    cfg = alembic_config()

    def _upgrade(sync_connection: Connection) -> None:
        if sync_connection.dialect.name == "postgresql":
            lock = f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_KEY})"
            sync_connection.exec_driver_sql(lock)
        cfg.attributes["connection"] = sync_connection
        command.upgrade(cfg, "head")

    # IMMEDIATE takes SQLite's write lock before Alembic reads the current revision; a deferred
    # transaction would read, then fail with SQLITE_BUSY when another process migrated meanwhile.
    # The driver runs DDL outside any transaction unless one was begun explicitly.
    migrating = engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
    async with migrating.begin() as connection:
        await connection.run_sync(_upgrade)
    logger.info("schema at head", extra={"dialect": engine.dialect.name})


async def _wait_until_sqlite_connects(engine: AsyncEngine) -> None:
    """Open a first connection, retrying while another process switches a new file to WAL.

    Switching a file to WAL needs it to itself, and SQLite reports "database is locked" at once
    instead of waiting busy_timeout. It happens only to a brand-new file: WAL then sticks.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SQLITE_WAL_SWITCH_TIMEOUT
    while True:
        try:
            async with engine.connect():
                return
        except OperationalError as error:
            if "database is locked" not in str(error.orig) or loop.time() > deadline:
                raise
            logger.debug("sqlite file busy at connect, retrying")
        await asyncio.sleep(0.05)
