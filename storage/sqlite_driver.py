"""aiosqlite, with one hand-off to its thread per statement instead of four.

SQLAlchemy's aiosqlite dialect makes a cursor, executes, fetches and closes it, and aiosqlite
runs each of those on its worker thread: four round trips between the event loop and the
thread for a SELECT, three for an INSERT. A round trip costs about 0.1 ms here (waking the
thread, then the loop), far more than the statement itself. This connection keeps aiosqlite's
thread and queue but runs a whole statement (execute, fetch every row, close) in one trip;
the cursor SQLAlchemy holds only hands back those rows. Statements still run off the event
loop, so a long query never blocks it; a transaction that holds the write lock may run its
statements on the loop thread instead (`Connection.inline`).

SQLAlchemy takes it through `create_async_engine(url, async_creator=...)`.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, cast

import aiosqlite

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """Run one statement to completion (on the worker thread)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class Cursor:
    """A cursor whose statement has already run: it serves the rows it fetched."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, sql: str, parameters: Any, many: bool) -> Cursor:
        connection = self._connection
        if connection.inline:
            outcome: Any = _execute(connection._conn, sql, parameters, many)
        else:
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _execute, connection._conn, sql, parameters, many
            )
        self.description, self.rowcount, self.lastrowid, rows = cast(_Outcome, outcome)
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        return await self._run(sql, () if parameters is None else parameters, False)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        return await self._run(sql, parameters, True)

    async def fetchone(self) -> Any | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = min(len(self._rows), self.arraysize if size is None else size)
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> Sequence[Any]:
        rows, self._rows = list(self._rows), deque()
        return rows

    async def nextset(self) -> None:
        return None

    async def close(self) -> None:
        self._rows.clear()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class Connection(aiosqlite.Connection):
    """aiosqlite's connection, with `Cursor` for cursors.

    While `inline` is set, statements run on the calling (event loop) thread with no hand-off
    at all; commit, rollback and close still go to the worker thread. Set it only where no
    statement can wait: inside a transaction that already holds the write lock (BEGIN
    IMMEDIATE), where in WAL mode neither readers nor checkpoints make a statement wait.
    """

    inline = False

    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)


async def connect(database: str) -> Connection:
    """Open a connection, as `await aiosqlite.connect(database)` would."""

    def connector() -> sqlite3.Connection:
        # Not checked: statements run on the worker thread or, `inline`, on the loop's, never
        # both at once (the connection is used by one session at a time, awaiting each call).
        return sqlite3.connect(database, check_same_thread=False)

    connection = Connection(connector, iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite: never hang the exit
    await connection
    return connection
