"""Feeding a channel's updates into the engine, a batch at a time, never skipping one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence

from bot.channels.base import BatchingChannel, Channel
from bot.outage import database_outage
from handlers.types import ChatKey, Incoming

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY = 30.0


async def pump_updates(
    channel: Channel,
    handle: Callable[[Incoming], Awaitable[object]],
    stop: asyncio.Event,
    *,
    retry_delay: float = 1.0,
) -> None:
    """Pump the channel's updates into `handle` (e.g. `Engine.handle`) until `stop` is set.

    The channel must be started. An update whose handling raised (the database is down) is
    tried again, after `retry_delay` growing to 30 s, rather than skipped: skipping it would
    confirm it to the network, and the engine's ledger makes a retry harmless.
    """

    async def handle_until_done(incoming: Incoming) -> None:
        delay = retry_delay
        while True:
            try:
                await handle(incoming)
                database_outage.succeeded()
                return
            except Exception as error:
                if not database_outage.failed(error, "handling an update"):
                    logger.exception(
                        "update handling failed",
                        extra={"channel": channel.kind.value, "update_id": incoming.update_id},
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)

    async def in_order(updates: list[Incoming]) -> None:
        for incoming in updates:
            await handle_until_done(incoming)

    async def pump() -> None:
        batches = _batches(channel)
        try:
            async for batch in batches:
                # Distinct chats are handled at once, so the engine commits them together;
                # each chat's updates one after the other, retries included, in order.
                by_chat: dict[ChatKey, list[Incoming]] = {}
                for incoming in batch:
                    by_chat.setdefault(incoming.key, []).append(incoming)
                await asyncio.gather(*(in_order(updates) for updates in by_chat.values()))
        finally:
            await _close(batches)

    pumping = asyncio.create_task(pump())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({pumping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, stopping):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _batches(channel: Channel) -> AsyncIterator[Sequence[Incoming]]:
    """The channel's updates in the batches it offers, else one by one."""
    if isinstance(channel, BatchingChannel):
        return channel.update_batches()
    return _singly(channel.updates())


async def _singly(updates: AsyncIterator[Incoming]) -> AsyncGenerator[Sequence[Incoming], None]:
    try:
        async for incoming in updates:
            yield (incoming,)
    finally:
        await _close(updates)


async def _close(iterator: AsyncIterator[object]) -> None:
    """Close a generator now (a cancelled pump), not whenever it is collected."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
