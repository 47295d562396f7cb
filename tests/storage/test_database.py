"""Engine settings and migrations, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, insert, inspect, select, text
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import (
    SQLITE_BEGIN_OPTION,
    alembic_config,
    create_engine,
    default_sqlite_url,
    migrate,
)
from storage.errors import StorageError
from storage.models import Base, Invite, OutboxMessage, OutboxStatus

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


async def _current_revisions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return list(result.scalars())


@contextmanager
def _recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_sqlite_pragmas_are_set_when_engine_connects(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'zhoubao.sqlite3'}")
    try:
        async with engine.connect() as connection:
            values = {
                pragma: (await connection.exec_driver_sql(f"PRAGMA {pragma}")).scalar_one()
                for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert values == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }


async def test_sqlite_parent_folder_is_created_when_missing(tmp_path: Path) -> None:
    data_dir = tmp_path / "missing" / "data"
    engine = create_engine(default_sqlite_url(data_dir))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    assert [path.name for path in data_dir.iterdir() if path.suffix == ".sqlite3"] == [
        "zhoubao.sqlite3"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://user@localhost/zhoubao",
        "sqlite:///blocking-driver.sqlite3",
        "postgresql+psycopg://postgres@localhost/zhoubao",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "not a url",
    ],
)
def test_create_engine_raises_storage_error_when_url_is_unsupported(url: str) -> None:
    with pytest.raises(StorageError):
        create_engine(url)


async def test_migrate_is_noop_when_schema_is_at_head(engine: AsyncEngine) -> None:
    with _recorded_statements(engine) as statements:
        await migrate(engine)
    changes = [s for s in statements if s.split()[0].upper() in {"CREATE", "ALTER", "DROP"}]
    assert changes == []
    assert await _current_revisions(engine) == [HEAD]


async def test_migrated_schema_matches_models(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_outbox_id_is_a_64_bit_autoincrementing_key_on_postgresql(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite uses its 64-bit rowid")

    def id_column(connection: Connection) -> ReflectedColumn:
        (column,) = [c for c in inspect(connection).get_columns("outbox") if c["name"] == "id"]
        return column

    async with engine.connect() as connection:
        column = await connection.run_sync(id_column)
    assert (str(column["type"]), column["autoincrement"]) == ("BIGINT", True)
    assert "nextval" in str(column["default"])


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    cfg = alembic_config()

    def run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    # As `migrate` does: SQLite's write lock first, and DDL inside the transaction.
    async with engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"}).begin() as c:
        await c.run_sync(run)


async def _outbox_indexes(engine: AsyncEngine) -> dict[str, list[str | None]]:
    def read(connection: Connection) -> dict[str, list[str | None]]:
        return {
            str(index["name"]): list(index["column_names"])
            for index in inspect(connection).get_indexes("outbox")
        }

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def test_outbox_status_index_becomes_status_id_and_back_when_0005_is_applied_and_undone(
    engine: AsyncEngine,
) -> None:
    at = datetime(2022, 9, 16, 4, tzinfo=UTC)
    row = {"channel": "telegram", "chat_id": "1", "user_id": "1", "payload": {}}
    row |= {"status": OutboxStatus.FAILED, "created_at": at, "next_attempt_at": at}
    async with engine.begin() as connection:
        await connection.execute(insert(OutboxMessage), [row] * 3)
    try:
        await _downgrade(engine, "0004")
        assert await _current_revisions(engine) == ["0004"]
        downgraded = await _outbox_indexes(engine)
        await migrate(engine)
        upgraded = await _outbox_indexes(engine)
    finally:
        await migrate(engine)  # the database goes back to the pool of test databases at head

    assert downgraded.get("ix_outbox_status") == ["status"]
    assert "ix_outbox_status_id" not in downgraded
    assert upgraded.get("ix_outbox_status_id") == ["status", "id"]
    assert "ix_outbox_status" not in upgraded
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM outbox")) == 3


_MIGRATE_SCRIPT = """
import asyncio, sys
from storage.database import create_engine, migrate

async def main(url: str) -> None:
    engine = create_engine(url)
    try:
        print("ready", flush=True)
        sys.stdin.readline()  # start together
        await migrate(engine)
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1]))
"""


async def test_migrate_succeeds_when_two_processes_start_at_once(db_url: str) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MIGRATE_SCRIPT,
            db_url,
            cwd=REPOSITORY_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(process.communicate(b"go\n") for process in processes)), 60
    )
    assert [
        (p.returncode, stderr.decode()) for p, (_, stderr) in zip(processes, outcomes, strict=True)
    ] == [
        (0, ""),
        (0, ""),
    ]
    engine = create_engine(db_url)
    try:
        assert await _current_revisions(engine) == [HEAD]
    finally:
        await engine.dispose()


async def test_plaintext_invite_codes_retired_when_0006_is_applied(engine: AsyncEngine) -> None:
    created = datetime(2022, 9, 14, 2, tzinfo=UTC)
    expires = datetime(2099, 1, 1, tzinfo=UTC)  # still valid when the upgrade runs
    try:
        await _downgrade(engine, "0005")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO invites (code, role, created_at, expires_at, used_at) "
                    "VALUES (:code, 'staff', :created, :expires, :used)"
                ),
                [
                    {"code": "ABCD2345", "created": created, "expires": expires, "used": None},
                    {"code": "WXYZ6789", "created": created, "expires": expires, "used": created},
                ],
            )
        await migrate(engine)
    finally:
        await migrate(engine)  # the database goes back to the pool of test databases at head

    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(Invite.code_hash, Invite.expires_at, Invite.used_at).order_by(
                    Invite.used_at.is_not(None)
                )
            )
        ).all()
    (unused_hash, unused_expires, _), (used_hash, used_expires, used_at) = rows
    assert unused_hash.startswith("retired:") and used_hash.startswith("retired:")
    assert not {"ABCD2345", "WXYZ6789"} & {unused_hash[8:], used_hash[8:]}
    assert unused_expires <= datetime.now(UTC)  # an unused code no longer binds anyone
    assert (used_expires, used_at) == (expires, created)  # who used which invite stays
