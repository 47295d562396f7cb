"""deploy/backup.sh and deploy/restore.sh: a round trip on PostgreSQL and on SQLite.

Each test fills a migrated database with every kind of row (issues, items, members, their
revisions, the outbox with a binary document …), backs it up with backup.sh, restores it
with restore.sh into an empty database and compares every table row by row. The scripts
run as subprocesses, as an administrator or a systemd timer would run them; the test
functions are synchronous for that reason and drive the database with asyncio.run.

PostgreSQL runs when ZHOUBAO_TEST_DATABASE_URL names a server (as in CI); each test creates
its own two databases there and drops them at the end.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.database import create_engine, migrate, session_factory
from storage.models import (
    Account,
    Base,
    ChannelCursor,
    ChannelState,
    ChatGuard,
    ConversationState,
    InspectionResult,
    Invite,
    Issue,
    Item,
    ItemRevision,
    Lease,
    LoginThrottle,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    StatisticFigure,
    WebSession,
    Window,
    WindowReport,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BACKUP = DEPLOY / "backup.sh"
RESTORE = DEPLOY / "restore.sh"
POSTGRES_ENV = "ZHOUBAO_TEST_DATABASE_URL"

T0 = datetime(2022, 9, 14, 1, 2, 3, 456789, tzinfo=UTC)

Contents = dict[str, list[tuple[Any, ...]]]


# --- the data ------------------------------------------------------------------------------


async def _create_and_fill(url: str) -> None:
    """Migrate the database at `url` and put one or more rows in every table."""
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with session_factory(engine)() as session, session.begin():
            session.add_all(
                [
                    Window(id=1, name="商务厅窗口", short_name="商务厅", position=10),
                    Window(id=2, name="省卫健委窗口", short_name="省卫健委", position=20),
                    Window(id=3, name="旧窗口", short_name="旧", position=30, active=False),
                ]
            )
            await session.flush()
            session.add_all(
                [
                    Member(id=1, channel="telegram", user_id="1001", chat_id="1001",
                           display_name="商务厅小王", window_id=1, role="staff", bound_at=T0),
                    Member(id=2, channel="telegram", user_id="1002", chat_id="-1002",
                           display_name="编辑 李 😀", window_id=None, role="editor", bound_at=T0),
                    Member(id=3, channel="console", user_id="巡查员", chat_id="巡查员",
                           display_name="", window_id=None, role="inspector", bound_at=T0,
                           active=False),
                ]
            )  # fmt: skip
            await session.flush()
            session.add_all(
                [
                    Invite(code_hash="ab" * 32, window_id=1, role="staff", created_at=T0,
                           expires_at=T0 + timedelta(days=7), used_at=T0, used_by=1),
                    Invite(code_hash="cd" * 32, window_id=None, role="admin", created_at=T0,
                           expires_at=T0 + timedelta(days=7), used_at=None, used_by=None),
                ]
            )  # fmt: skip
            await session.flush()
            # Issues, items and outbox messages get their ids from the database (a
            # sequence on PostgreSQL), as in zhoubao: the restore must bring those back.
            session.add_all(
                [
                    Issue(year=2022, number=31, total_number=406,
                          period_start=date(2022, 9, 12), period_end=date(2022, 9, 16),
                          issue_date=date(2022, 9, 21), status="closed", opened_at=T0,
                          closed_at=T0 + timedelta(days=2), deadline_at=T0 + timedelta(days=2)),
                    Issue(year=2022, number=32, total_number=407,
                          period_start=date(2022, 9, 19), period_end=date(2022, 9, 23),
                          issue_date=None, status="open", opened_at=T0 + timedelta(days=7),
                          closed_at=None, deadline_at=None),
                ]
            )  # fmt: skip
            await session.flush()
            session.add_all(
                [
                    Item(issue_id=1, window_id=1, subsection="business_environment",
                         text="商务厅窗口 推行“一窗通办”,办件量同比增长 12.5%", author_id=1,
                         position=2, created_at=T0, updated_at=T0 + timedelta(hours=1)),
                    Item(issue_id=1, window_id=2, subsection="service_efficiency",
                         text="第一行\n第二行\t（含制表符）", author_id=1, position=1,
                         late=True, created_at=T0, updated_at=T0),
                    Item(issue_id=2, window_id=1, subsection="service_efficiency",
                         text="已撤回的动态", status="withdrawn", author_id=1, position=None,
                         created_at=T0, updated_at=T0),
                    ItemRevision(id=1, item_id=1, text="初稿", subsection="service_efficiency",
                                 edited_by=1, edited_at=T0 + timedelta(minutes=5)),
                    WindowReport(issue_id=1, window_id=2, no_news=True, exempt=False,
                                 reopened=True, updated_by=2, updated_at=T0),
                    StatisticFigure(issue_id=1, category="permit", accepted=12_345_678_901,
                                    completed=0, entered_by=2, entered_at=T0),
                    InspectionResult(issue_id=1, criterion="attendance", verdict="总体情况良好。",
                                     entered_by=3, entered_at=T0),
                    ConversationState(channel="telegram", chat_id="1001", user_id="1001",
                                      conversation="intake", state="preview",
                                      data={"text": "草稿", "choices": [["1", "确认提交"]],
                                            "n": 3, "none": None},
                                      updated_at=T0),
                    ProcessedUpdate(channel="telegram", update_id="987654321", processed_at=T0),
                    ChatGuard(channel="telegram", chat_id="666", messages=600,
                              first_seen_at=T0, last_seen_at=T0, answered_at=T0,
                              wrong_codes=2, wrong_since=T0, locked_until=None),
                    OutboxMessage(channel="telegram", chat_id="1001", user_id="1001",
                                  payload={"text": "请提交本周动态", "choices": []},
                                  document_name=None, document=None, status="sent",
                                  attempts=1, dedupe_key="prompt:2:1", created_at=T0,
                                  next_attempt_at=T0, sent_at=T0, last_error=None),
                    OutboxMessage(channel="telegram", chat_id="-1002", user_id="1002",
                                  payload={"text": "草稿见附件"}, document_name="周报.docx",
                                  document=bytes(range(256)) * 8, status="failed",
                                  attempts=5, dedupe_key=None, created_at=T0,
                                  next_attempt_at=T0, sent_at=None, last_error="429 重试"),
                    # Expired: restore.sh refuses only while a lease is live.
                    Lease(name="scheduler", holder="server-a:1234",
                          expires_at=datetime(2022, 9, 14, tzinfo=UTC)),
                    ChannelCursor(channel="telegram", cursor="987654321", updated_at=T0),
                    ChannelState(channel="wechat", status="logged_in", detail=None,
                                 updated_at=T0),
                    Account(id=1, login="editor", display_name="编辑", role="editor",
                            password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA",
                            active=True, created_at=T0, password_changed_at=T0),
                    WebSession(token_hash="a" * 64, account_id=1, csrf_token="c" * 43,
                               created_at=T0, last_seen_at=T0,
                               expires_at=T0 + timedelta(hours=12), revoked_at=None,
                               address="10.0.0.7"),
                    LoginThrottle(key="address:203.0.113.9", failures=3, window_started_at=T0,
                                  locked_until=None),
                ]
            )  # fmt: skip
    finally:
        await engine.dispose()


async def _contents(url: str) -> Contents:
    """Return every row of every table (and the schema version), in primary key order."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            contents: Contents = {}
            for table in Base.metadata.sorted_tables:
                query = select(table).order_by(*table.primary_key.columns)
                contents[table.name] = [tuple(row) for row in await connection.execute(query)]
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            contents["alembic_version"] = [tuple(row) for row in version]
            return contents
    finally:
        await engine.dispose()


async def _change(url: str) -> None:
    """Change the database so that it no longer matches its backup."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await session.delete(await session.get(ItemRevision, 1))
            await session.delete(await session.get(Item, 1))
            item = await session.get(Item, 2)
            assert item is not None
            item.text = "改过的"
            session.add(ProcessedUpdate(channel="telegram", update_id="1", processed_at=T0))
    finally:
        await engine.dispose()


async def _add_rows_without_ids(url: str) -> tuple[int, int]:
    """Insert an issue and an outbox message with generated ids; return the ids."""
    engine = create_engine(url)
    try:
        await migrate(engine)  # the restored schema is at head: nothing to do
        async with session_factory(engine)() as session, session.begin():
            issue = Issue(year=2022, number=33, total_number=408,
                          period_start=date(2022, 9, 26), period_end=date(2022, 9, 30),
                          status="open", opened_at=T0)  # fmt: skip
            message = OutboxMessage(channel="console", chat_id="x", user_id="x",
                                    payload={"text": "hi"}, created_at=T0,
                                    next_attempt_at=T0)  # fmt: skip
            session.add_all([issue, message])
            await session.flush()
            return issue.id, message.id
    finally:
        await engine.dispose()


async def _set_live_lease(url: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            lease = await session.get(Lease, "scheduler")
            assert lease is not None
            lease.expires_at = datetime.now(UTC) + timedelta(minutes=5)
    finally:
        await engine.dispose()


def _check_filled(contents: Contents) -> None:
    """The comparison is only worth something if the data is all there."""
    assert len(contents["issues"]) == 2
    assert len(contents["items"]) == 3
    assert len(contents["members"]) == 3
    assert all(contents[table.name] for table in Base.metadata.sorted_tables)


# --- running the scripts --------------------------------------------------------------------


def _run(
    script: Path, *args: str | Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ZHOUBAO_PYTHON": sys.executable, **(env or {})}
    environment.pop("ZHOUBAO_CONFIG", None)
    result = subprocess.run(
        [str(script), *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"{script.name} failed:\n{result.stderr}"
    return result


def _backup_file(result: subprocess.CompletedProcess[str], suffix: str) -> Path:
    path = Path(result.stdout.strip())
    assert re.fullmatch(rf"zhoubao-\d{{8}}T\d{{6}}Z\.{suffix}", path.name), path
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # people's names and chat identities
    assert not list(path.parent.glob("*.partial"))
    return path


# --- PostgreSQL -----------------------------------------------------------------------------


class PostgresServer:
    """Databases made for one test on the server of ZHOUBAO_TEST_DATABASE_URL."""

    def __init__(self, server_url: str) -> None:
        url = make_url(server_url)
        # The scripts, like zhoubao, refuse a password in a URL: hand it over as PGPASSWORD.
        self.env = {"PGPASSWORD": url.password} if url.password else {}
        self.server_url = url.set(password=None)
        self.names: list[str] = []

    def create(self) -> str:
        name = f"zb_deploy_{secrets.token_hex(5)}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.names:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, sql: str) -> None:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        engine = create_async_engine(
            self.server_url.set(password=self.env.get("PGPASSWORD")),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )
        try:
            async with engine.connect() as connection:
                await connection.exec_driver_sql(sql)
        finally:
            await engine.dispose()


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server_url = os.environ.get(POSTGRES_ENV)
    if not server_url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    server = PostgresServer(server_url)
    try:
        yield server
    finally:
        server.drop_all()


def test_postgresql_backup_restores_every_row_into_an_empty_database(
    postgres: PostgresServer, tmp_path: Path, write_production_config: Callable[..., Path]
) -> None:
    source = postgres.create()
    target = postgres.create()  # empty: not even migrated
    asyncio.run(_create_and_fill(source))
    original = asyncio.run(_contents(source))
    _check_filled(original)
    # The database comes from the configuration, as on a server.
    config = write_production_config(url=source, data_dir=tmp_path / "data")

    backup = _backup_file(
        _run(BACKUP, "--config", config, "--output-dir", tmp_path / "backups", env=postgres.env),
        "pgdump",
    )
    assert backup.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    _run(RESTORE, "--url", target, "--yes", backup, env=postgres.env)

    assert asyncio.run(_contents(target)) == original
    # Sequences came back too: new rows get fresh ids instead of colliding with old ones.
    assert asyncio.run(_add_rows_without_ids(target)) == (3, 3)  # after issues 1-2, outbox 1-2


def test_postgresql_restore_replaces_a_changed_database(
    postgres: PostgresServer, tmp_path: Path, write_production_config: Callable[..., Path]
) -> None:
    source = postgres.create()
    asyncio.run(_create_and_fill(source))
    original = asyncio.run(_contents(source))
    config = write_production_config(url=source, data_dir=tmp_path / "data")
    backup = _backup_file(
        _run(BACKUP, "--config", config, "--output-dir", tmp_path, env=postgres.env), "pgdump"
    )
    asyncio.run(_change(source))
    assert asyncio.run(_contents(source)) != original

    # A live lease means zhoubao still runs on this database: refused without --force.
    asyncio.run(_set_live_lease(source))
    refused = _run(RESTORE, "--config", config, "--yes", backup, env=postgres.env, check=False)
    assert refused.returncode != 0
    assert "server-a:1234" in refused.stderr
    assert "stop it" in refused.stderr

    _run(RESTORE, "--config", config, "--yes", "--force", backup, env=postgres.env)
    assert asyncio.run(_contents(source)) == original


def test_restore_refuses_a_backup_of_the_other_kind(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    database = tmp_path / "zhoubao.sqlite3"
    asyncio.run(_create_and_fill(f"sqlite+aiosqlite:///{database}"))
    backup = _backup_file(
        _run(BACKUP, "--url", f"sqlite+aiosqlite:///{database}", "--output-dir", tmp_path),
        "sqlite3",
    )
    target = postgres.create()
    result = _run(RESTORE, "--url", target, "--yes", backup, env=postgres.env, check=False)
    assert result.returncode != 0
    assert "is a sqlite backup, but the database is postgresql" in result.stderr


# --- SQLite ---------------------------------------------------------------------------------


def test_sqlite_backup_restores_every_row_into_a_new_file(
    tmp_path: Path, write_production_config: Callable[..., Path]
) -> None:
    # The production example with its url removed: the default SQLite file under data_dir.
    config = write_production_config(data_dir=tmp_path / "data")
    config.write_text(
        re.sub(r'(?m)^url = ".*"\n', "", config.read_text(encoding="utf-8")), encoding="utf-8"
    )
    source = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'zhoubao.sqlite3'}"
    asyncio.run(_create_and_fill(source))
    original = asyncio.run(_contents(source))
    _check_filled(original)

    backup = _backup_file(
        _run(BACKUP, "--config", config, "--output-dir", tmp_path / "backups"), "sqlite3"
    )
    target_file = tmp_path / "restored" / "zhoubao.sqlite3"
    _run(RESTORE, "--url", f"sqlite+aiosqlite:///{target_file}", "--yes", backup)

    target = f"sqlite+aiosqlite:///{target_file}"
    assert asyncio.run(_contents(target)) == original
    assert asyncio.run(_add_rows_without_ids(target)) == (3, 3)  # after issues 1-2, outbox 1-2


def test_sqlite_backup_is_online_and_restore_keeps_the_replaced_file(tmp_path: Path) -> None:
    database = tmp_path / "zhoubao.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    asyncio.run(_create_and_fill(url))
    original = asyncio.run(_contents(url))

    # Another process is in the middle of a write transaction, as zhoubao may be: the backup
    # neither waits for it nor includes what it has not committed.
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO processed_updates (channel, update_id, processed_at) "
            "VALUES ('telegram', 'uncommitted', '2022-09-14 00:00:00')"
        )
        backup = _backup_file(_run(BACKUP, "--url", url, "--output-dir", tmp_path), "sqlite3")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    with sqlite3.connect(backup) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file

    asyncio.run(_change(url))
    changed = asyncio.run(_contents(url))
    assert changed != original

    refused = _run(RESTORE, "--url", url, backup, check=False)  # no terminal, no --yes
    assert refused.returncode != 0
    assert "--yes" in refused.stderr

    asyncio.run(_set_live_lease(url))
    refused = _run(RESTORE, "--url", url, "--yes", backup, check=False)
    assert refused.returncode != 0
    assert "server-a:1234" in refused.stderr

    _run(RESTORE, "--url", url, "--yes", "--force", backup)
    assert asyncio.run(_contents(url)) == original
    (kept,) = tmp_path.glob("zhoubao.sqlite3.before-restore-*")
    kept_contents = asyncio.run(_contents(f"sqlite+aiosqlite:///{kept}"))
    assert kept_contents["items"] == changed["items"]


def test_backup_keep_days_deletes_only_old_backups(tmp_path: Path) -> None:
    database = tmp_path / "zhoubao.sqlite3"
    asyncio.run(_create_and_fill(f"sqlite+aiosqlite:///{database}"))
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "zhoubao-20200101T000000Z.sqlite3"
    other = backups / "notes.txt"
    for path in (old, other):
        path.write_text("x")
        os.utime(path, (0, 0))
    result = _run(
        BACKUP, "--url", f"sqlite+aiosqlite:///{database}", "--output-dir", backups,
        "--keep-days", "30",
    )  # fmt: skip
    new = _backup_file(result, "sqlite3")
    assert sorted(backups.iterdir()) == sorted([new, other])
    assert f"deleted old backup {old}" in result.stderr


def test_scripts_explain_their_usage(tmp_path: Path) -> None:
    for script in (BACKUP, RESTORE):
        shown = _run(script, "--help")
        assert shown.stdout.startswith(f"usage: {script.name} ")
        wrong = _run(script, "--no-such-option", check=False)
        assert wrong.returncode == 2
        assert f"usage: {script.name} " in wrong.stderr
    assert _run(RESTORE, check=False).returncode == 2  # no backup file given
    missing = _run(BACKUP, "--config", tmp_path / "missing.toml", check=False)
    assert missing.returncode == 2
    assert "不存在" in missing.stderr  # zhoubao's own message about the configuration
    password = _run(BACKUP, "--url", "postgresql+asyncpg://u:secret@h/db", check=False)
    assert password.returncode == 2
    assert "PGPASSWORD" in password.stderr
    assert "secret" not in password.stderr
