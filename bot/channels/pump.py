"""Feeding a channel's updates into the engine, one at a time, never skipping one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.channels.base import Channel
from handlers.types import Incoming

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

    async def pump() -> None:
        updates = channel.updates()
        try:
            async for incoming in updates:
                delay = retry_delay
                while True:
                    try:
                        await handle(incoming)
                        break
                    except Exception:
                        logger.exception(
                            "update handling failed",
                            extra={"channel": channel.kind.value, "update_id": incoming.update_id},
                        )
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_RETRY_DELAY)
        finally:
            # A cancelled pump closes the generator now, not whenever it is collected.
            close = getattr(updates, "aclose", None)
            if close is not None:
                await close()

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
