"""storage.sqlite_driver behind SQLAlchemy's aiosqlite dialect: every path its adapter takes.

The driver answers to what SQLAlchemy's connection adapter asks of an aiosqlite connection,
some of it private (`_connection`, `_conn`, `_tx`). pyproject.toml pins SQLAlchemy to the
release these tests passed on; when a new release's adapter asks for something else, the first
test names it, and the others show which path broke.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.connectors import asyncio as sqlalchemy_asyncio
from sqlalchemy.dialects.sqlite import aiosqlite as sqlalchemy_aiosqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage import sqlite_driver
from storage.database import SQLITE_BEGIN_OPTION, create_engine, statements_inline

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", String, unique=True, nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def _names_used(module: object, holder: str) -> set[str]:
    return set(re.findall(rf"self\.{holder}\.(\w+)", inspect.getsource(module)))  # type: ignore[arg-type]


def test_sqlalchemy_is_the_release_pinned_in_pyproject() -> None:
    pins = re.findall(r'"sqlalchemy\[asyncio\]==([\d.]+)"', PYPROJECT.read_text())
    assert pins == [sqlalchemy.__version__], (
        f"SQLAlchemy {sqlalchemy.__version__} is installed, pyproject.toml pins {pins}: "
        "storage/sqlite_driver.py answers to the adapter of the pinned release"
    )


def test_driver_has_every_name_sqlalchemys_adapter_uses() -> None:
    connection = sqlite_driver.Connection(lambda: None)  # type: ignore[arg-type,return-value]
    cursor = sqlite_driver.Cursor(connection)
    used_on_connection = _names_used(sqlalchemy_aiosqlite, "_connection") | _names_used(
        sqlalchemy_asyncio, "_connection"
    )
    used_on_cursor = _names_used(sqlalchemy_asyncio, "_cursor")
    missing = sorted(
        [f"Connection.{name}" for name in used_on_connection if not hasattr(type(connection), name)
         and name not in vars(connection)]
        + [f"Cursor.{name}" for name in used_on_cursor if not hasattr(cursor, name)]
    )  # fmt: skip
    assert not missing, (
        f"SQLAlchemy {sqlalchemy.__version__}'s aiosqlite adapter uses {missing}, which "
        "storage.sqlite_driver does not provide: read sqlalchemy/dialects/sqlite/aiosqlite.py "
        "and sqlalchemy/connectors/asyncio.py, and make the driver answer to them"
    )


async def test_statements_run_on_the_connections_thread(engine: AsyncEngine) -> None:
    def thread_of(function: object) -> str:
        return threading.current_thread().name

    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, sqlite_driver.Connection)
        assert await driver.run(thread_of, None) == "zhoubao-sqlite"
        result = await connection.execute(text("SELECT 1 + 1"))
        assert result.scalar_one() == 2


async def test_rows_written_together_are_read_back(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(insert(notes).values(text="一"))
        assert inserted.inserted_primary_key == (1,)
        many = await connection.execute(insert(notes), [{"text": "二"}, {"text": "三"}])
        assert many.rowcount == 2
    async with engine.connect() as connection:
        rows = (await connection.execute(select(notes.c.text).order_by(notes.c.id))).all()
        assert [row.text for row in rows] == ["一", "二", "三"]
        streamed = await connection.stream(select(notes.c.id).order_by(notes.c.id))
        assert [row.id async for row in streamed] == [1, 2, 3]


async def test_rollback_and_savepoint_undo_what_they_should(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        await session.execute(insert(notes).values(text="kept"))
        try:
            async with session.begin_nested():
                await session.execute(insert(notes).values(text="kept"))
        except IntegrityError:
            pass
        await session.commit()
    async with AsyncSession(engine) as session:
        await session.execute(insert(notes).values(text="undone"))
        await session.rollback()
        texts = (await session.execute(select(notes.c.text))).scalars().all()
    assert texts == ["kept"]


async def test_autocommit_sets_the_isolation_level_on_the_connections_thread(
    engine: AsyncEngine,
) -> None:
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as connection:
        raw = await connection.get_raw_connection()
        assert raw.driver_connection.isolation_level is None
        await connection.execute(insert(notes).values(text="at once"))
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert raw.driver_connection.isolation_level == ""  # reset when it went back to the pool
        assert (await connection.execute(select(notes.c.text))).scalars().all() == ["at once"]


async def test_functions_sqlalchemy_registers_work(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(notes), [{"text": "abc"}, {"text": "xyz"}])
        matched = await connection.execute(
            select(notes.c.text).where(notes.c.text.regexp_match("^a"))
        )
        assert matched.scalars().all() == ["abc"]


async def test_statements_inline_run_on_the_loop_thread_inside_begin_immediate(
    engine: AsyncEngine,
) -> None:
    immediate = engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
    async with AsyncSession(immediate) as session, session.begin():
        await session.execute(insert(notes).values(text="first"))
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
        async with statements_inline(session):
            assert driver.inline
            await session.execute(insert(notes).values(text="inline"))
        assert not driver.inline
    async with engine.connect() as connection:
        texts = (await connection.execute(select(notes.c.text).order_by(notes.c.id))).scalars()
        assert texts.all() == ["first", "inline"]


async def test_a_closed_connection_is_a_disconnect_and_the_pool_replaces_it(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        first = raw.driver_connection
        await first.close()
        await first.close()  # twice is nothing
        with pytest.raises(OperationalError, match=r"no active connection|Connection closed"):
            await connection.execute(text("SELECT 1"))
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert raw.driver_connection is not first
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1


async def test_dispose_ends_every_connections_thread(engine: AsyncEngine) -> None:
    threads = []
    for _ in range(2):
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            threads.append(raw.driver_connection._thread)
            await connection.invalidate()  # terminate: SQLAlchemy closes it, or stops it
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        threads.append(raw.driver_connection._thread)
    await engine.dispose()
    for thread in threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in threads)


async def test_a_file_that_cannot_be_opened_raises_and_leaves_no_thread(tmp_path: Path) -> None:
    before = threading.active_count()
    with pytest.raises(Exception, match="unable to open"):
        await sqlite_driver.connect(str(tmp_path / "missing" / "folder" / "x.sqlite3"))
    for thread in threading.enumerate():
        if thread.name == "zhoubao-sqlite":
            thread.join(timeout=5)
    assert threading.active_count() <= before
