"""Memory: the resident memory of `zhoubao run`, idle and at the peak of the weekly fan-out.

`zhoubao run` is started as a real process (as an administrator starts it) on a configuration
written by `write_default_config`, with the console enabled, Telegram enabled and pointed at
the loopback Bot API server of the tests (`api_url`), and WeChat enabled and pointed at the
Node puppet-service peer of the tests when its node_modules are installed (else the run has
two channels, and the case says so).

Idle: once the Telegram channel polls (the server has seen getUpdates), VmRSS is read from
/proc/<pid>/status every 0.1 s for a few seconds; the row gives the largest, and VmHWM (the
kernel's own peak of the resident set) next to it.

Peak of the fan-out: the configuration holds 2,000 windows (quick: 200), and before the start
the database the configuration points at gets two bound Telegram members per window and the
opened issue (`benchmarks.fanout.prepare`: one prompt per member queued in the outbox). Then
`zhoubao run` sends them to the loopback server at Telegram's real pace (about 29 a second,
so ~2.5 min for 4,000), while VmRSS is sampled every 0.1 s. Quick mode stops after
QUICK_SEND_S seconds of sending and reports the peak so far.

Target (the issue): under 150 MB, met when VmHWM is below it. MB here are MiB (VmRSS / 1024).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from benchmarks.corpus import short_name, window_name
from benchmarks.fanout import prepare
from benchmarks.framework import Benchmark, Context, Row
from bot.app import open_app
from bot.config import load_config, write_default_config
from report.dates import format_period
from scheduler.clock import SystemClock
from storage.repositories import issues
from tests.bot.channels.telegram_server import FLOOD_METHODS, TelegramServer

NAME: Final = "memory"
REPO: Final = Path(__file__).resolve().parents[1]
ZHOUBAO: Final = (sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())")
TARGET_MB: Final = 150.0
TARGET: Final = f"< {TARGET_MB:g} MB"
FULL_WINDOWS: Final = 2000
QUICK_WINDOWS: Final = 200
FULL_IDLE_S: Final = 10.0
QUICK_IDLE_S: Final = 2.0
QUICK_SEND_S: Final = 6.0  # quick mode: stop after this much sending, report the peak so far
SEND_TIMEOUT_PAD_S: Final = 60.0  # full mode: messages ÷ 25 per s plus this, then give up
SAMPLE_EVERY: Final = 0.1
START_TIMEOUT: Final = 60.0  # s for `zhoubao run` to poll Telegram
STOP_TIMEOUT: Final = 30.0
WINDOWS_MARK: Final = "\n[[windows]]\n"


# --- Reading the process's memory. -----------------------------------------------------------


def read_status(pid: int) -> tuple[float, float] | None:
    """VmRSS and VmHWM of `pid` in MiB, or None when the process is gone."""
    values: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    if "VmRSS" not in values or "VmHWM" not in values:
        return None  # a zombie has no memory lines
    return values["VmRSS"], values["VmHWM"]


@dataclass(slots=True)
class Samples:
    rss_max: float = 0.0
    hwm: float = 0.0
    count: int = 0

    def take(self, pid: int) -> None:
        read = read_status(pid)
        if read is None:
            return
        rss, hwm = read
        self.rss_max = max(self.rss_max, rss)
        self.hwm = max(self.hwm, hwm)
        self.count += 1


# --- The WeChat peer, when it is installed. ----------------------------------------------------


class Peer(Protocol):
    """What is used of tests.bot.channels.wechat_peer.WechatPeer."""

    token: str

    @property
    def endpoint(self) -> str: ...


@contextlib.contextmanager
def wechat_peer() -> Iterator[Peer | None]:
    """A running Node peer (tests.bot.channels.wechat_peer.WechatPeer), or None if not installed."""
    peer_dir = REPO / "tests" / "bot" / "channels" / "wechat_peer"
    if (
        shutil.which("node") is None
        or not (peer_dir / "node_modules" / ".package-lock.json").exists()
    ):
        yield None
        return
    import pytest

    # Imported by name: mypy resolves tests.bot.channels.wechat_peer to the peer's folder.
    helpers = importlib.import_module("tests.bot.channels.wechat_peer")
    peer = helpers.WechatPeer(token=f"zhoubao-bench-{os.getpid()}")
    try:
        peer.start()
    except pytest.fail.Exception as error:  # the helper reports a failed start through pytest
        raise RuntimeError(str(error)) from None
    try:
        yield peer
    finally:
        peer.stop()


# --- The configuration. ------------------------------------------------------------------------


def write_config(
    workdir: Path, server: TelegramServer, peer: Peer | None, windows: int | None
) -> Path:
    """The default configuration with Telegram (and WeChat) enabled; `windows` replaces the
    default windows with the fan-out's, when given."""
    path = workdir / "zhoubao.toml"
    write_default_config(path)
    text = path.read_text("utf-8")
    telegram_off = "[channels.telegram]\nenabled = false"
    wechat_off = "[channels.wechat]\nenabled = false"
    if telegram_off not in text or wechat_off not in text:
        raise RuntimeError("the default configuration changed shape")
    text = text.replace(
        telegram_off,
        f'[channels.telegram]\nenabled = true\napi_url = "http://127.0.0.1:{server.port}"',
    )
    if peer is not None:
        endpoint = peer.endpoint
        text = text.replace(
            wechat_off, f'[channels.wechat]\nenabled = true\nendpoint = "{endpoint}"'
        )
    if windows is not None:
        text = _with_windows(text, windows)
    # zhoubao's web server (/healthz …) on a free port: other runs may hold 8080.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text = text.replace("\n[server]\n", f'\n[server]\nlisten = "127.0.0.1:{port}"\n', 1)
    path.write_text(text, "utf-8")
    return path


def _with_windows(text: str, windows: int) -> str:
    """`text` with its [[windows]] tables replaced by the fan-out's `windows` windows."""
    blocks = text.split(WINDOWS_MARK)
    kept = [blocks[0]]
    for block in blocks[1:]:
        # A window's table ends at the next table header; keep whatever follows it.
        _, sep, rest = block.partition("\n[")
        if sep:
            kept.append("\n[" + rest)
    generated = "".join(
        f'\n[[windows]]\nname = "{window_name(i)}"\nshort_name = "{short_name(i)}"\n'
        f"order = {i + 1}\n"
        for i in range(windows)
    )
    return "".join(kept).rstrip("\n") + "\n" + generated


async def prepare_fanout(config_path: Path, windows: int) -> tuple[int, str]:
    """Bind two Telegram members per window and open the issue.

    Return the prompts queued and the issue's period as its prompts print it.
    """
    config = load_config(config_path)
    clock = SystemClock(config.schedule.zone()).now
    app = await open_app(config, clock)
    try:
        _, queued = await prepare(app, windows, clock())
        async with app.sessions() as session:
            issue = await issues.last_issue(session)
            assert issue is not None
            period = format_period(issue.period_start, issue.period_end)
    finally:
        await app.close()
    return queued, period


# --- Running `zhoubao run`. ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measured:
    rss_max: float
    hwm: float
    samples: int
    sent: int = 0  # sends the server answered 200
    sending_s: float = 0.0  # first send received → the end of sampling
    # Messages of the current week: the prepared issue is the fan-out benchmark's (a week of
    # 2022), so `zhoubao run`'s catch-up on start opens this week's issue and prompts again.
    this_week: int = 0


async def run_zhoubao(
    config: Path,
    server: TelegramServer,
    peer: Peer | None,
    measure: Callable[[int, Samples], object],
) -> Samples:
    """Start `zhoubao run`, wait until it polls Telegram, run `measure`, SIGTERM it."""
    env = {**os.environ, "ZHOUBAO_TELEGRAM_TOKEN": server.token}
    if peer is not None:
        env["ZHOUBAO_WECHAT_TOKEN"] = peer.token
    process = await asyncio.create_subprocess_exec(
        *ZHOUBAO, "--config", str(config), "run",
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    samples = Samples()
    communicate = asyncio.create_task(process.communicate())
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.calls_of("getUpdates"):
            if communicate.done():
                _, err = communicate.result()
                raise RuntimeError(f"zhoubao run exited ({process.returncode}): {err.decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError("zhoubao run did not poll Telegram in time")
            samples.take(process.pid)
            await asyncio.sleep(SAMPLE_EVERY)
        samples = Samples()  # from the first poll on: the start-up is in VmHWM only
        result = measure(process.pid, samples)
        if asyncio.iscoroutine(result):
            await result
        samples.take(process.pid)  # VmHWM at the end
        if communicate.done():
            raise RuntimeError(f"zhoubao run exited early ({process.returncode})")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            _, err = await asyncio.wait_for(asyncio.shield(communicate), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            _, err = await communicate
    if process.returncode != 0:
        raise RuntimeError(f"zhoubao run failed ({process.returncode}): {err.decode()[-2000:]}")
    return samples


async def sample_for(pid: int, samples: Samples, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.take(pid)
        await asyncio.sleep(SAMPLE_EVERY)


def sent_ok(server: TelegramServer, period: str | None = None) -> int:
    """Sends answered 200; with `period`, only those of the issue whose prompts print it."""
    return sum(
        1
        for call in server.calls
        if call.method in FLOOD_METHODS
        and call.status == 200
        and (period is None or period in str(call.params.get("text", "")))
    )


async def measure_idle(workdir: Path, peer: Peer | None, seconds: float) -> Measured:
    async with TelegramServer() as server:
        config = write_config(workdir, server, peer, None)
        samples = await run_zhoubao(
            config, server, peer, lambda pid, s: sample_for(pid, s, seconds)
        )
    return Measured(samples.rss_max, samples.hwm, samples.count)


async def measure_fanout(
    workdir: Path, peer: Peer | None, windows: int, send_limit_s: float | None
) -> tuple[Measured, int]:
    """Return what was measured and the prompts queued."""
    async with TelegramServer(limits=(30, 1.0)) as server:
        config = write_config(workdir, server, peer, windows)
        queued, period = await prepare_fanout(config, windows)
        first_send: list[float] = []

        async def while_sending(pid: int, samples: Samples) -> None:
            timeout = queued / 25 + SEND_TIMEOUT_PAD_S
            started = time.monotonic()
            while True:
                samples.take(pid)
                now = time.monotonic()
                if not first_send and sent_ok(server):
                    first_send.append(now)
                if sent_ok(server, period) >= queued or now - started > timeout:
                    return
                if send_limit_s is not None and first_send and now - first_send[0] > send_limit_s:
                    return
                await asyncio.sleep(SAMPLE_EVERY)

        samples = await run_zhoubao(config, server, peer, while_sending)
        sent = sent_ok(server, period)
        this_week = sent_ok(server) - sent
        sending_s = time.monotonic() - first_send[0] if first_send else 0.0
    return Measured(samples.rss_max, samples.hwm, samples.count, sent, sending_s, this_week), queued


# --- Rows. ---------------------------------------------------------------------------------------


def run(context: Context, windows: int, idle_s: float, send_limit_s: float | None) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="zb-memory-") as tmp, wechat_peer() as peer:
        channels = (
            "3 channels (console, Telegram, WeChat)"
            if peer is not None
            else "2 channels (console, Telegram; WeChat peer not installed)"
        )
        (Path(tmp) / "idle").mkdir()
        (Path(tmp) / "fanout").mkdir()
        idle = asyncio.run(measure_idle(Path(tmp) / "idle", peer, idle_s))
        peak, queued = asyncio.run(
            measure_fanout(Path(tmp) / "fanout", peer, windows, send_limit_s)
        )

    partial = send_limit_s is not None and peak.sent < queued
    fanout_case = f"fan-out peak, {windows:,} windows × 2, {channels}" + (
        f", first {send_limit_s:g} s of sending" if partial else ""
    )
    idle_case = f"idle, {channels}"
    context.note(
        f"memory: idle {idle.rss_max:.1f} MB max over {idle.samples} samples "
        f"(VmHWM {idle.hwm:.1f} MB); fan-out {peak.sent:,} of {queued:,} prompts received by "
        f"the server in {peak.sending_s:.1f} s, RSS max {peak.rss_max:.1f} MB over "
        f"{peak.samples} samples (VmHWM {peak.hwm:.1f} MB)"
        + (" — stopped early (quick mode), the peak so far." if partial else ".")
        + " MB = MiB; the target is met when VmHWM is below it."
        + (
            f" Also {peak.this_week:,} prompts of the current week: the prepared issue is of "
            "2022, so the service's catch-up on start opened this week's and prompted again."
            if peak.this_week
            else ""
        )
    )
    return [
        Row(NAME, idle_case, "RSS max", idle.rss_max, "MB", "VmHWM", idle.hwm, TARGET,
            idle.hwm < TARGET_MB),
        Row(NAME, fanout_case, "RSS max", peak.rss_max, "MB", "VmHWM", peak.hwm, TARGET,
            peak.hwm < TARGET_MB),
        Row(NAME, fanout_case, "messages received", peak.sent, "msgs", "queued", queued),
    ]  # fmt: skip


def run_quick(context: Context) -> list[Row]:
    return run(context, QUICK_WINDOWS, QUICK_IDLE_S, QUICK_SEND_S)


def run_full(context: Context) -> list[Row]:
    return run(context, FULL_WINDOWS, FULL_IDLE_S, None)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
