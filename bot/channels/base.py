"""What every channel adapter provides: translate, never decide."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing


class Channel(Protocol):
    kind: ChannelKind

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        """Deliver one message; raise bot.errors.ChannelError when it could not be sent."""
        ...

    def updates(self) -> AsyncIterator[Incoming]: ...


@runtime_checkable
class BatchingChannel(Channel, Protocol):
    """A channel that can hand over the updates at hand together.

    `update_batches()` yields each group of updates that arrived together (a getUpdates
    answer, the webhook calls waiting, the events queued). The consumer handles a whole batch
    (distinct chats concurrently, so the engine commits them in one transaction), then asks for
    the next: only then is the batch confirmed to the network.
    """

    def update_batches(self) -> AsyncIterator[Sequence[Incoming]]: ...


@runtime_checkable
class ReportingChannel(Protocol):
    """A channel that reports its connection (WeChat's login): shown by `zhoubao status`
    and `/readyz`. A channel without it is "running" while it runs."""

    @property
    def status(self) -> str: ...

    @property
    def last_error(self) -> str | None: ...


def status_of(channel: Channel) -> str:
    return channel.status if isinstance(channel, ReportingChannel) else "running"


def last_error_of(channel: Channel) -> str | None:
    return channel.last_error if isinstance(channel, ReportingChannel) else None


@runtime_checkable
class PartedChannel(Protocol):
    """A channel that delivers some messages as several network messages (parts).

    A long Telegram text goes as pieces of 4,096; a WeChat document as its text, then the file.
    The outbox sends part by part and records each one delivered, so a retry sends only the
    parts still missing. `send(to, message)` is the same as sending every part in order.
    """

    def part_count(self, message: Outgoing) -> int:
        """How many parts `message` is sent as (the same answer every time for a message)."""
        ...

    async def send_part(self, to: ChatKey, message: Outgoing, index: int) -> None:
        """Deliver part `index` (from 0) of `message`; raise ChannelError as `send` does."""
        ...
