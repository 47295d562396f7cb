"""The WeCom channel on loopback: the channel built for the loopback WeCom server, its callback
URL served by an aiohttp server as `zhoubao run` serves it, and the pump feeding the engine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from bot.channels import webhook
from bot.channels.pump import pump_updates
from bot.channels.wecom import WecomChannel
from handlers.types import Incoming
from tests.bot.channels.wecom_server import (
    AGENT_ID,
    CALLBACK_TOKEN,
    CORP_ID,
    ENCODING_AES_KEY,
    SECRET,
    WecomServer,
)

CALLBACK_PATH = "/wecom/callback"


def wecom_channel(
    server: WecomServer, clock: Callable[[], datetime], **options: object
) -> WecomChannel:
    return WecomChannel(
        corp_id=CORP_ID,
        agent_id=AGENT_ID,
        secret=SECRET,
        callback_token=CALLBACK_TOKEN,
        encoding_aes_key=ENCODING_AES_KEY,
        base_url=server.base_url,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


@dataclass
class Served:
    channel: WecomChannel
    url: str  # the callback URL


@contextlib.asynccontextmanager
async def served(
    channel: WecomChannel, handle: Callable[[Incoming], Awaitable[object]] | None
) -> AsyncIterator[Served]:
    """Start `channel`, serve its callback URL on 127.0.0.1, pump its updates into `handle`."""
    await channel.start()
    application = web.Application()
    application.add_routes(channel.callback_routes(CALLBACK_PATH))
    runner = web.AppRunner(application, **webhook.server_options())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    pumping = (
        asyncio.create_task(pump_updates(channel, handle, stop, retry_delay=0.05))
        if handle is not None
        else None
    )
    try:
        yield Served(channel, f"http://127.0.0.1:{port}{CALLBACK_PATH}")
    finally:
        stop.set()
        if pumping is not None:
            await pumping
        await runner.cleanup()
        await channel.stop()
