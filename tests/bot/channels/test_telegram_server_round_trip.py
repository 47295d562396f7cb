"""The loopback Bot API server's round-trip delay, with its flood limits still enforced."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.bot.channels.telegram_server import TelegramServer


async def _send(client: aiohttp.ClientSession, server: TelegramServer, chat: int) -> int:
    url = f"{server.base_url}{server.token}/sendMessage"
    async with client.post(url, data={"chat_id": str(chat), "text": "hi"}) as response:
        return response.status


async def test_every_call_takes_the_round_trip_and_the_limits_still_answer_429() -> None:
    async with (
        TelegramServer(limits=(30, 1.0), round_trip=0.2) as server,
        aiohttp.ClientSession() as client,
    ):
        started = time.monotonic()
        assert await _send(client, server, 1) == 200
        assert time.monotonic() - started >= 0.2
        assert await _send(client, server, 1) == 429  # the same chat within a second
        assert server.flood_429s == 1
        first = server.calls[0]
        assert first.received_at + 0.09 <= first.handled_at <= first.answered_at - 0.09


async def test_no_round_trip_by_default_and_a_negative_one_is_refused() -> None:
    async with TelegramServer() as server, aiohttp.ClientSession() as client:
        assert server.round_trip == 0
        started = time.monotonic()
        assert await _send(client, server, 1) == 200
        assert time.monotonic() - started < 0.15
    with pytest.raises(ValueError):
        TelegramServer(round_trip=-1)
