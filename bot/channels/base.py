"""What every channel adapter provides: translate, never decide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing


class Channel(Protocol):
    kind: ChannelKind

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        """Deliver one message; raise bot.errors.ChannelError when it could not be sent."""
        ...

    def updates(self) -> AsyncIterator[Incoming]: ...
