"""Where a channel keeps its place in the network's stream (the Telegram getUpdates offset).

The runtime gives an adapter a `CursorStore`; the adapter never opens a database session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import cursors


class CursorStore(Protocol):
    async def load(self, name: str) -> str | None:
        """The cursor saved under `name`, if any."""
        ...

    async def save(self, name: str, cursor: str) -> None:
        """Save the cursor (committed when this returns); raises when it cannot."""
        ...


class DatabaseCursors:
    """Cursors in the `channel_cursors` table, one short transaction each."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    async def load(self, name: str) -> str | None:
        async with self._sessions() as session:
            return await cursors.get_cursor(session, name)

    async def save(self, name: str, cursor: str) -> None:
        async with self._sessions() as session, session.begin():
            await cursors.set_cursor(session, name, cursor, self._clock())
