"""Two `zhoubao run` processes on one PostgreSQL; the leader is paused mid-fan-out and resumed.

Two real `zhoubao run` processes share a scratch PostgreSQL database and the loopback Bot API
server (150 ms round trip, 30 sends a second and one a second per chat enforced with 429s).
The outbox holds `MESSAGES` messages, one per chat. Once the server has received
`PAUSE_AFTER` of them, the leader (found through `/readyz`) is stopped with SIGSTOP for
`PAUSE` seconds, longer than the lease (45 s): the other process takes the lease over and
sends; then the first gets SIGCONT. Counted at the server: messages delivered more than once
(repeats), chats that got nothing, 429s, and how long the takeover took. The bound of issue
11 part 4: at most the messages in flight when the leader stopped may be repeated.

Full mode only (the lease alone takes 45 s to expire); the quick mode returns no rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from sqlalchemy import func, select

from benchmarks.framework import Benchmark, Context, Row, scratch_postgres
from bot.app import open_app
from bot.config import load_config, write_default_config
from storage.database import create_engine
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import outbox
from tests.bot.channels.telegram_server import BENCH_ROUND_TRIP, FLOOD_METHODS, TelegramServer

NAME: Final = "soak"
WRITTEN_GRACE: Final = 1.0  # s after the SIGSTOP in which the server may still read its calls
MESSAGES: Final = 600
PAUSE_AFTER: Final = 60  # sends received before the leader is paused
PAUSE: Final = 65.0  # s, longer than bot.runner.LEASE_TTL (45 s)
FIRST_CHAT: Final = 900_000_001
SETTLE: Final = 600.0  # s for everything to be delivered after the resume
REPO: Final = Path(__file__).resolve().parents[1]
ZHOUBAO: Final = (sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())")


@dataclass(frozen=True, slots=True)
class SoakResult:
    messages: int
    repeats: int
    lost: int
    in_flight_at_pause: int
    flood_429s: int
    takeover_s: float  # SIGSTOP → the other process reports itself leader
    total_s: float

    @property
    def met(self) -> bool:
        return self.lost == 0 and self.repeats <= self.in_flight_at_pause


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(folder: Path, api_port: int, listen_port: int, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "zhoubao.toml"
    write_default_config(path)
    text = path.read_text("utf-8")
    text = text.replace(
        "[channels.telegram]\nenabled = false",
        f'[channels.telegram]\nenabled = true\napi_url = "http://127.0.0.1:{api_port}"',
    )
    text = text.replace("\n[server]\n", f'\n[server]\nlisten = "127.0.0.1:{listen_port}"\n')
    text = text.replace('[storage]\ndata_dir = "data"', f'[storage]\nurl = "{url}"')
    path.write_text(text, "utf-8")
    return path


async def _role(client: aiohttp.ClientSession, port: int) -> str | None:
    try:
        async with client.get(
            f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(total=1)
        ) as response:
            body: dict[str, Any] = await response.json()
            return str(body.get("role"))
    except (aiohttp.ClientError, TimeoutError):
        return None


async def _queued(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.QUEUED)
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def soak(server_url: str, workdir: Path) -> SoakResult:
    async with (
        scratch_postgres(server_url, "soak") as url,
        TelegramServer(limits=(30, 1.0), round_trip=BENCH_ROUND_TRIP) as telegram,
    ):
        ports = [_free_port(), _free_port()]
        configs = [
            _config(workdir / name, telegram.port, port, url)
            for name, port in zip("ab", ports, strict=True)
        ]
        app = await open_app(load_config(configs[0]))  # migrates; queue the fan-out
        try:
            now = app.clock()
            rows = [
                outbox.queued_row(
                    channel="telegram",
                    chat_id=str(FIRST_CHAT + i),
                    user_id=str(FIRST_CHAT + i),
                    payload={"text": f"本周工作动态请报送 {i}"},
                    now=now,
                )
                for i in range(MESSAGES)
            ]
            async with app.sessions() as session, session.begin():
                await outbox.enqueue_many(session, rows)
        finally:
            await app.close()

        env = {**os.environ, "ZHOUBAO_TELEGRAM_TOKEN": telegram.token}
        logs = [open(workdir / f"{name}.log", "wb") for name in "ab"]  # noqa: SIM115, ASYNC230
        started = time.monotonic()
        processes = [
            await asyncio.create_subprocess_exec(
                *ZHOUBAO, "--config", str(config), "run",
                cwd=REPO, env=env, stdout=log, stderr=log,
            )
            for config, log in zip(configs, logs, strict=True)
        ]  # fmt: skip
        paused_at = resumed = 0.0
        takeover = float("nan")
        try:
            async with aiohttp.ClientSession() as client:

                def sends() -> list[Any]:
                    return [c for c in telegram.calls if c.method in FLOOD_METHODS]

                deadline = time.monotonic() + 120
                while len(sends()) < PAUSE_AFTER:
                    if time.monotonic() > deadline:
                        raise RuntimeError("zhoubao run sent nothing; see its logs")
                    await asyncio.sleep(0.05)
                roles = [await _role(client, port) for port in ports]
                if "leader" not in roles:
                    raise RuntimeError(f"no leader among {roles}")
                leader = roles.index("leader")
                other = 1 - leader
                os.kill(processes[leader].pid, signal.SIGSTOP)
                paused_at = time.monotonic()
                while time.monotonic() - paused_at < PAUSE:
                    if takeover != takeover and await _role(client, ports[other]) == "leader":
                        takeover = time.monotonic() - paused_at
                    await asyncio.sleep(0.5)
                os.kill(processes[leader].pid, signal.SIGCONT)
                resumed = time.monotonic()
                while time.monotonic() - resumed < SETTLE:
                    delivered = {c.params.get("chat_id") for c in sends() if c.status == 200}
                    if len(delivered) >= MESSAGES and not await _queued(url):
                        break
                    await asyncio.sleep(1.0)
                await asyncio.sleep(5.0)  # anything the resumed process still had in hand
        finally:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), 60)
                except TimeoutError:
                    process.kill()
            for log in logs:
                log.close()
        total = time.monotonic() - started
        calls = [c for c in telegram.calls if c.method in FLOOD_METHODS]
        ok = Counter(c.params.get("chat_id") for c in calls if c.status == 200)
        # In flight at the pause: calls the leader had written and not seen answered. One
        # written just before SIGSTOP reaches the server a little after it (the server's own
        # loop reads it), so calls received up to WRITTEN_GRACE after the pause count too: no
        # other process sends then (the standby leads only when the lease expires, ~40 s on).
        in_flight = sum(
            1
            for c in calls
            if c.received_at <= paused_at + WRITTEN_GRACE and paused_at < (c.answered_at or 1e18)
        )
        return SoakResult(
            messages=MESSAGES,
            repeats=sum(n - 1 for n in ok.values() if n > 1),
            lost=MESSAGES - len(ok),
            in_flight_at_pause=in_flight,
            flood_429s=telegram.flood_429s,
            takeover_s=takeover,
            total_s=total,
        )


def rows_of(result: SoakResult) -> list[Row]:
    case = (
        f"PostgreSQL, 2 processes: {result.messages} messages, leader SIGSTOPped "
        f"{PAUSE:g} s after {PAUSE_AFTER} sends, round trip {BENCH_ROUND_TRIP * 1000:g} ms"
    )
    return [
        Row(NAME, case, "sent twice", result.repeats, "msgs", "in flight at the pause",
            result.in_flight_at_pause, "≤ in flight at the pause", result.met),
        Row(NAME, case, "lost", result.lost, "msgs", None, None, "0", result.lost == 0),
        Row(NAME, case, "429 received", result.flood_429s, "count"),
        Row(NAME, case, "takeover after SIGSTOP", result.takeover_s, "s", "lease, s", 45.0),
        Row(NAME, case, "whole run", result.total_s, "s"),
    ]  # fmt: skip


def run_quick(context: Context) -> list[Row]:
    context.note(f"{NAME}: full mode only (a lease takes 45 s to expire).")
    return []


def run_full(context: Context) -> list[Row]:
    if context.postgres_url is None:
        context.note(f"{NAME}: skipped, it needs PostgreSQL (--postgres URL).")
        return []
    with tempfile.TemporaryDirectory(prefix="zb-soak-") as tmp:
        result = asyncio.run(soak(context.postgres_url, Path(tmp)))
    context.note(
        f"{NAME}: {result.repeats} of {result.messages} messages sent twice "
        f"({result.in_flight_at_pause} in flight when the leader was stopped), {result.lost} "
        f"lost, {result.flood_429s} × 429; the other process led {result.takeover_s:.1f} s "
        "after the SIGSTOP."
    )
    return rows_of(result)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
