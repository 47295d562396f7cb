"""Alembic environment: runs on the connection `storage.database.migrate` passes in.

From the command line (see alembic.ini) it opens its own connection to `-x url=...`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from storage.errors import StorageError
from storage.models import Base, UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write UTCDateTime as the plain column type it stores, so migrations need no app import."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise StorageError("no database: pass -x url=sqlite+aiosqlite:///path/to/file.sqlite3")
    return url


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_on(connection: Connection) -> None:
    """Run the migrations on an open connection, inside its transaction if it has one."""
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    from storage.database import SQLITE_BEGIN_OPTION, create_engine

    engine = create_engine(url)
    try:
        migrating = engine.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        async with migrating.begin() as connection:
            await connection.run_sync(run_migrations_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (given := context.config.attributes.get("connection")) is not None:
    run_migrations_on(given)
else:
    asyncio.run(_run_with_own_engine(_url()))
