"""`zhoubao run` as a real process, serving a Telegram bot through the loopback Bot API.

The process is what an administrator starts; the test plays a window's staff member on
Telegram (messages and button taps injected into the loopback server) and reads what the
bot really sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from handlers import messages
from handlers.registry import STAFF_MENU
from tests.channels.telegram_server import TelegramServer

ZHOUBAO = [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())"]
REPO = Path(__file__).resolve().parents[2]
CHAT = 5001


def _config(tmp_path: Path, server: TelegramServer) -> Path:
    from bot.config import write_default_config

    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    text = path.read_text("utf-8")
    off = "[channels.telegram]\nenabled = false"
    assert off in text, "the default file changed shape"
    text = text.replace(
        off, f'[channels.telegram]\nenabled = true\napi_url = "http://127.0.0.1:{server.port}"'
    )
    path.write_text(text, "utf-8")
    return with_listen(path, free_port())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_listen(config: Path, port: int) -> Path:
    """Serve zhoubao's web server on `port` (a free one: tests and worktrees run side by side)."""
    text = config.read_text("utf-8")
    assert "\n[server]\n" in text, "the default file changed shape"
    config.write_text(text.replace("\n[server]\n", f'\n[server]\nlisten = "127.0.0.1:{port}"\n'))
    return config


def listen_port(config: Path) -> int:
    """The port `with_listen` wrote into `config`."""
    text = config.read_text("utf-8")
    return int(text.split('[server]\nlisten = "127.0.0.1:', 1)[1].split('"', 1)[0])


async def _zhoubao(config: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *ZHOUBAO, "--config", str(config), *args,
        cwd=REPO,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _wait_for(predicate: object, seconds: float = 15.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_staff_binds_on_telegram_when_zhoubao_run_serves_the_bot(
    tmp_path: Path, telegram_server: TelegramServer
) -> None:
    config = _config(tmp_path, telegram_server)
    invite = await _zhoubao(config, "invite", "--window", "商务厅", "--role", "staff")
    out, err = await invite.communicate()
    assert invite.returncode == 0, err.decode()
    code = out.decode().split("\n")[0].split("：")[1]

    run = await _zhoubao(config, "run", ZHOUBAO_TELEGRAM_TOKEN=telegram_server.token)
    try:
        telegram_server.inject_message(CHAT, CHAT, f"/start {code}")
        await _wait_for(lambda: len(telegram_server.sent_to(CHAT)) >= 2)
        replies = [call.params["text"] for call in telegram_server.sent_to(CHAT)]
        assert replies[:2] == [messages.bound("商务厅窗口", "staff"), messages.MENU_PROMPT]
        menu = telegram_server.sent_to(CHAT)[1].params["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in menu] == [c.label for c in STAFF_MENU]

        status = await _zhoubao(config, "status")
        shown, err = await status.communicate()
        assert status.returncode == 0, err.decode()
        assert "渠道 telegram：运行中" in shown.decode()
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(run.communicate(), 30)
    assert run.returncode == 0, err.decode()
    assert "zhoubao 已停止。" in out.decode()
    # Whatever day this runs on, a first start opens the first week whose deadline is ahead.
    assert "这是第一次运行：现在开启 " in out.decode()
