"""What `zhoubao run` writes to its log at DEBUG: plenty, and no secret and no text.

`zhoubao run` is a real process in webhook mode against the loopback Bot API, with a token
shaped like BotFather's and a webhook secret in its environment. A window's staff member binds
and submits an item through the webhook (the test plays Telegram, with the secret header);
the process's whole output is then searched for the token, the secret and the item's text.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channels.telegram import SECRET_HEADER
from handlers import messages
from tests.bot.channels.telegram_server import TelegramServer

ZHOUBAO = [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())"]
REPO = Path(__file__).resolve().parents[3]
CHAT = 5001
TOKEN = "7501234567:AAHk3-Ms_9qL0vPzYx2Wc4EoRtNnBgUiDfA"
SECRET = "Webhook_s3cret-0123456789"
SUBSECTION = "优化营商环境工作开展情况"
ITEM = "商务厅窗口为企业办理跨境电商备案37件，全程网上办理。"
WEBHOOK_URL = "https://zhoubao.example.org/telegram/webhook"


@pytest.fixture
async def telegram_server() -> Any:
    async with TelegramServer(TOKEN) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, server: TelegramServer, port: int) -> Path:
    from bot.config import write_default_config

    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    text = path.read_text("utf-8")
    off = "[channels.telegram]\nenabled = false"
    assert off in text, "the default file changed shape"
    text = text.replace(
        off,
        "[channels.telegram]\nenabled = true\n"
        f'api_url = "http://127.0.0.1:{server.port}"\n'
        f'webhook_url = "{WEBHOOK_URL}"\n'
        f'listen = "127.0.0.1:{port}"',
    ).replace('mode = "polling"', 'mode = "webhook"', 1)
    path.write_text(text, "utf-8")
    return path


async def _zhoubao(config: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ZHOUBAO, "--config", str(config), *args,
        cwd=REPO,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _wait_for(predicate: Any, seconds: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


class Phone:
    """The staff member's Telegram: updates to zhoubao's webhook, replies from the server."""

    def __init__(self, server: TelegramServer, client: aiohttp.ClientSession, url: str) -> None:
        self.server, self.client, self.url = server, client, url
        self.read = 0

    async def post(self, update: dict[str, Any]) -> None:
        headers = {SECRET_HEADER: SECRET}
        async with self.client.post(self.url, json=update, headers=headers) as response:
            assert response.status == 200, response.status

    async def say(self, text: str, replies: int = 1) -> list[dict[str, Any]]:
        await self.post(self.server.message_update(CHAT, CHAT, text))
        return await self._replies(replies)

    async def tap(self, label: str, replies: int = 1) -> list[dict[str, Any]]:
        buttons = {
            row[0]["text"]: row[0]["callback_data"]
            for call in self.server.sent_to(CHAT)
            for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
        }
        update = self.server.callback_update(CHAT, CHAT, buttons[label], len(self.server.calls))
        await self.post(update)
        return await self._replies(replies)

    async def _replies(self, count: int) -> list[dict[str, Any]]:
        await _wait_for(lambda: len(self.server.sent_to(CHAT)) >= self.read + count)
        new = self.server.sent_to(CHAT)[self.read :]
        self.read += len(new)
        return [call.params for call in new]


async def _until_listening(url: str, client: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        try:
            async with client.post(url, data=b"{}") as response:  # no secret: refused, 403
                assert response.status == 403
                return
        except aiohttp.ClientConnectionError:
            assert loop.time() < deadline, "zhoubao run never listened"
            await asyncio.sleep(0.1)


async def test_log_at_debug_holds_no_token_secret_or_item_text_when_staff_submit(
    tmp_path: Path, telegram_server: TelegramServer
) -> None:
    port = _free_port()
    config = _config(tmp_path, telegram_server, port)
    invite = await _zhoubao(config, "invite", "--window", "商务厅", "--role", "staff")
    out, err = await invite.communicate()
    assert invite.returncode == 0, err.decode()
    code = out.decode().split("\n")[0].split("：")[1]

    run = await _zhoubao(
        config,
        "run",
        ZHOUBAO_LOG_LEVEL="DEBUG",
        ZHOUBAO_TELEGRAM_TOKEN=TOKEN,
        ZHOUBAO_TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    try:
        async with aiohttp.ClientSession() as client:
            await _until_listening(url, client)
            await _wait_for(lambda: "secret_token" in telegram_server.webhook)
            assert telegram_server.webhook["secret_token"] == SECRET
            phone = Phone(telegram_server, client, url)
            bound = await phone.say(f"/start {code}", replies=2)
            assert bound[0]["text"] == messages.bound("商务厅窗口", "staff")
            await phone.tap(messages.LABEL_SUBMIT)
            await phone.tap(SUBSECTION)
            preview = await phone.say(ITEM)
            assert "跨境电商备案37件" in preview[-1]["text"]  # the text really went through
            done = await phone.tap(messages.LABEL_CONFIRM)
            assert done[0]["text"] == messages.submitted(1)
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(run.communicate(), 30)
    log = err.decode()
    everything = out.decode() + log
    assert run.returncode == 0, log[-3000:]

    # Logs were written, the Bot API calls among them: the search below has something to find.
    assert f"HTTP Request: POST http://127.0.0.1:{telegram_server.port}/bot<redacted>/" in log
    assert "/bot<redacted>/setWebhook" in log and "/bot<redacted>/sendMessage" in log
    assert "telegram channel started mode=webhook" in log
    assert " DEBUG " in log
    # …and none of them holds a secret or what the staff member wrote.
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in everything
    for fragment in (ITEM, "跨境电商备案", "全程网上办理"):
        assert fragment not in everything
