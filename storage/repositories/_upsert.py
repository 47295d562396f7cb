"""Dialect-specific INSERT … ON CONFLICT, which SQLite and PostgreSQL both support."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: Any) -> Any:
    """Return the dialect's `insert(table)` that has `on_conflict_do_*`."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_built: dict[tuple[str, str], Any] = {}


def built_for(session: AsyncSession, name: str, build: Callable[[Callable[..., Any]], Any]) -> Any:
    """The statement `build(insert)` for the session's dialect, built once per process.

    Building an INSERT … ON CONFLICT with SQLAlchemy costs more than running it, and a statement
    object that is reused also reuses its compiled form. `name` must be unique to `build`.
    """
    dialect = session.get_bind().dialect.name
    key = (name, dialect)
    if key not in _built:
        _built[key] = build(postgresql.insert if dialect == "postgresql" else sqlite.insert)
    return _built[key]
