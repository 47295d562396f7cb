"""The DingTalk channel on loopback: built for the loopback DingTalk, its Stream connection
(or its HTTP callback served as `zhoubao run` serves it), and the pump feeding the engine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from aiohttp import web

from bot.channels import webhook
from bot.channels.dingtalk import DingtalkChannel
from bot.channels.dingtalk_stream import StreamState
from bot.channels.pump import pump_updates
from handlers.types import Incoming
from tests.bot.channels.dingtalk_server import APP_KEY, APP_SECRET, SAFETY, DingtalkServer

CALLBACK_PATH = "/dingtalk/callback"


def dingtalk_channel(
    server: DingtalkServer, clock: Callable[[], datetime], **options: object
) -> DingtalkChannel:
    settings: dict[str, object] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "api_url": server.base_url,
        "oapi_url": server.base_url,
        "clock": clock,
        "reconnect_base": 0.01,
    }
    settings.update(options)
    return DingtalkChannel(**settings)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def served(
    channel: DingtalkChannel, handle: Callable[[Incoming], Awaitable[object]] | None
) -> AsyncIterator[str]:
    """Start `channel` (connected, in Stream mode), serve its callback path on 127.0.0.1 and
    pump its updates into `handle`; yield the callback URL."""
    await channel.start()
    if channel.stream is not None:
        async with asyncio.timeout(SAFETY):
            await channel.stream.wait_state(StreamState.CONNECTED)
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
        yield f"http://127.0.0.1:{port}{CALLBACK_PATH}"
    finally:
        stop.set()
        if pumping is not None:
            await pumping
        await runner.cleanup()
        await channel.stop()
