"""SQLite for SQLAlchemy's asyncio engine: one sqlite3 connection on a thread of our own.

SQLAlchemy's asyncio layer drives an async DB-API connection: its cursor executes, fetches and
closes, and a driver such as aiosqlite runs each of those on a worker thread, so a SELECT costs
four round trips between the event loop and the thread (three for an INSERT). A round trip
costs about 0.1 ms here (waking the thread, then the loop), far more than the statement itself.
`Connection` owns its sqlite3 connection and the one thread that uses it, and runs a whole
statement (execute, fetch every row, close) in one trip; the cursor SQLAlchemy holds only hands
back those rows. Statements still run off the event loop, so a long query never blocks it; a
transaction that holds the write lock may run its statements on the loop thread instead
(`Connection.inline`).

SQLAlchemy takes it through `create_async_engine(url, async_creator=...)` with its
`sqlite+aiosqlite` dialect, whose connection adapter (`AsyncAdapt_aiosqlite_connection`)
reaches for a few of aiosqlite's private names on the connection: `_connection`, `_conn` and
`_tx` (a queue of `(future, function)` run on the thread). This class answers to them, so it
depends on that adapter, not on aiosqlite's internals: pyproject.toml pins SQLAlchemy to the
tested release and `tests/storage/test_sqlite_driver.py` fails, naming the attribute, when the
adapter reaches for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from queue import SimpleQueue
from typing import Any, Final, TypeVar

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]
_Job = tuple["asyncio.Future[Any] | None", Callable[[], Any]]

# The messages aiosqlite raises for a closed connection: SQLAlchemy's dialect recognises them
# (a ValueError becomes OperationalError, and counts as a disconnect).
NO_CONNECTION: Final = "no active connection"
CLOSED: Final = "Connection closed"

_STOP: Final = object()  # returned by the job that ends the thread

T = TypeVar("T")


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _work(jobs: SimpleQueue[_Job]) -> None:
    """Run the connection's jobs in order, until the one that returns `_STOP`."""
    while True:
        future, function = jobs.get()
        try:
            result = function()
        except BaseException as error:
            if future is not None:
                _answer(future, _fail, error)
            continue
        if future is not None:
            _answer(future, _settle, result)
        if result is _STOP:
            return


def _answer(future: asyncio.Future[Any], how: Callable[..., None], value: Any) -> None:
    # A closed loop raises RuntimeError: nobody waits for the answer any more.
    with contextlib.suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(how, future, value)


def _close_and_stop(connection: sqlite3.Connection | None) -> object:
    if connection is not None:
        connection.close()
    return _STOP


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """Run one statement to completion (on the connection's thread, or inline)."""
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
            outcome = _execute(connection._conn, sql, parameters, many)
        else:
            outcome = await connection.run(_execute, connection._conn, sql, parameters, many)
        self.description, self.rowcount, self.lastrowid, rows = outcome
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

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def close(self) -> None:
        self._rows.clear()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class Connection:
    """A sqlite3 connection used only from its own thread, with awaitable calls.

    While `inline` is set, statements run on the calling (event loop) thread with no hand-off
    at all; commit, rollback and close still go to the thread. Set it only where no statement
    can wait: inside a transaction that already holds the write lock (BEGIN IMMEDIATE), where
    in WAL mode neither readers nor checkpoints make a statement wait.
    """

    inline = False

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        self._connector = connector
        self._connection: sqlite3.Connection | None = None
        self._running = True
        self._tx: SimpleQueue[_Job] = SimpleQueue()
        # A daemon, as SQLAlchemy makes aiosqlite's: a connection never closed never hangs the
        # interpreter's exit.
        self._thread = threading.Thread(
            target=_work, args=(self._tx,), name="zhoubao-sqlite", daemon=True
        )

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError(NO_CONNECTION)
        return self._connection

    async def _open(self) -> Connection:
        self._thread.start()
        try:
            self._connection = await self.run(self._connector)
        except BaseException:
            self.stop()
            raise
        return self

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Return `function(*args)`, called on the connection's thread."""
        if not self._running:
            raise ValueError(CLOSED)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((future, partial(function, *args) if args else function))
        return await future

    @property
    def in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        await self.run(self._conn.rollback)

    async def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], *, deterministic: bool = False
    ) -> None:
        create = partial(self._conn.create_function, deterministic=deterministic)
        await self.run(create, name, num_params, func)

    async def close(self) -> None:
        """Close the sqlite3 connection, then end the thread; nothing when already closed."""
        stopped = self.stop()
        if stopped is not None:
            await stopped

    def stop(self) -> asyncio.Future[Any] | None:
        """End the thread after the jobs queued before, closing the connection if still open.

        Returns a future of the thread's last job when called with an event loop running.
        """
        if not self._running:
            return None
        self._running = False
        connection, self._connection = self._connection, None
        try:
            future: asyncio.Future[Any] | None = asyncio.get_running_loop().create_future()
        except RuntimeError:
            future = None
        self._tx.put_nowait((future, partial(_close_and_stop, connection)))
        return future

    def __del__(self) -> None:
        # Never closed (a connection SQLAlchemy dropped): end the thread, closing the sqlite3
        # connection there, without an event loop.
        if self._running and self._thread.is_alive():
            self._running = False
            self._tx.put_nowait((None, partial(_close_and_stop, self._connection)))


async def connect(database: str) -> Connection:
    """Open a connection to the SQLite file `database`."""

    def connector() -> sqlite3.Connection:
        # Not checked: statements run on the connection's thread or, `inline`, on the loop's,
        # never both at once (the connection is used by one session at a time, awaiting each
        # call).
        return sqlite3.connect(database, check_same_thread=False)

    return await Connection(connector)._open()
