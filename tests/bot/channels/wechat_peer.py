"""The Node Wechaty puppet-service peer (wechat_peer/peer.mjs beside this) as pytest fixtures.

`wechat_peer` (module scope) runs `npm ci` once if node_modules is missing, starts the peer on
free loopback ports and yields a `WechatPeer`: `say()` makes a contact talk to the bot,
`sent()` lists what the bot sent, `stop()`/`start()` restart it on the same ports.
The tests are skipped only when `node` or `npm` is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

PEER_DIR = Path(__file__).parent / "wechat_peer"
READY = "WECHAT_PEER_READY"
START_TIMEOUT = 20.0
NPM_TIMEOUT = 300.0

BOT_ID = "wxid_zhoubao_bot"
BOT_NAME = "周报助手"
WANG = "wxid_shangwu_wang"  # 商务厅小王
ZHANG = "wxid_zhujian_zhang"  # 住建厅小张
CHEN = "wxid_editor_chen"  # 编辑老陈
ROOM = "20220914-windows@chatroom"

_npm_lock = threading.Lock()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_node_modules() -> None:
    """`npm ci` into the peer's folder once, from the committed package-lock.json."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("the WeChat channel tests need Node.js (node and npm) on PATH")
    with _npm_lock:
        marker = PEER_DIR / "node_modules" / ".package-lock.json"
        if marker.exists():
            return
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in {PEER_DIR}:\n{result.stdout}\n{result.stderr}")


@dataclass
class SentMessage:
    to: str
    room: str | None
    text: str | None
    file: dict[str, Any] | None


class WechatPeer:
    """A running peer.mjs: a puppet-service gRPC port and an HTTP control port."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        """Start the peer (again, on the same ports) and wait for its ready line."""
        assert self.process is None, "the peer is already running"
        process = subprocess.Popen(
            [
                "node",
                "peer.mjs",
                "--grpc-port",
                str(self.grpc_port),
                "--http-port",
                str(self.http_port),
                "--token",
                self.token,
            ],
            cwd=PEER_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "WECHATY_LOG": "warn"},
        )
        self.process = process
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.log.append(line.rstrip("\n"))
                if line.startswith(READY):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the WeChat peer did not start:\n" + "\n".join(self.log[-30:]))

    def stop(self) -> None:
        """SIGTERM the peer and wait for it to exit (SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    # --- the control port (blocking; the async helpers run it in a thread) ---

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urlopen(request, timeout=5) as response:
                return json.loads(response.read().decode("utf-8"))
        except HTTPError as error:
            raise AssertionError(
                f"peer {method} {path}: {error.code} {error.read().decode('utf-8')}"
            ) from error

    def say_sync(
        self, sender: str, text: str, *, room: str | None = None, mention: bool = False
    ) -> str:
        body: dict[str, Any] = {"from": sender, "text": text}
        if room is not None:
            body |= {"room": room, "mention": mention}
        message_id: str = self._request("POST", "/say", body)["id"]
        return message_id

    def sent_sync(self) -> list[SentMessage]:
        return [
            SentMessage(entry["to"], entry["room"], entry["text"], entry["file"])
            for entry in self._request("GET", "/sent")
        ]

    def health_sync(self) -> dict[str, Any]:
        health: dict[str, Any] = self._request("GET", "/health")
        return health

    async def say(
        self, sender: str, text: str, *, room: str | None = None, mention: bool = False
    ) -> str:
        """Make contact `sender` (id or name) send `text` to the bot, or in `room`."""
        return await asyncio.to_thread(self.say_sync, sender, text, room=room, mention=mention)

    async def sent(self) -> list[SentMessage]:
        """Everything the bot sent since the peer started or the last `clear()`."""
        return await asyncio.to_thread(self.sent_sync)

    async def clear(self) -> None:
        await asyncio.to_thread(self._request, "POST", "/clear", {})

    async def wait_sent(self, count: int, within: float = 5.0) -> list[SentMessage]:
        """Wait until the bot has sent at least `count` messages; return them all."""
        deadline = time.monotonic() + within
        while True:
            sent = await self.sent()
            if len(sent) >= count or time.monotonic() > deadline:
                return sent
            await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def wechat_peer() -> Iterator[WechatPeer]:
    """A Node puppet-service peer shared by a test module; restarted by the tests that stop it."""
    ensure_node_modules()
    peer = WechatPeer(token=f"zhoubao-test-{os.getpid()}")
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
