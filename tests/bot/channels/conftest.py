"""Fixtures for the channel tests: a loopback Telegram Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.bot.channels.telegram_server import TelegramServer


@pytest.fixture
async def telegram_server() -> AsyncIterator[TelegramServer]:
    """A Bot API server of our own on 127.0.0.1, standing in for Telegram's."""
    async with TelegramServer() as server:
        yield server
