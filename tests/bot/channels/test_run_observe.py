"""`zhoubao run` as a real process answers /healthz, /readyz and /metrics.

On a PostgreSQL server of the test's own (tests/postgres_server.py): ready as leader while the
database answers, 503 with the reason once the server is stopped, alive all along; /metrics,
parsed with the Prometheus client's own parser, shows the families moving after a
conversation turn and its replies' sends through the loopback Bot API.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bot.channels.telegram_server import TelegramServer
from tests.bot.channels.test_run_postgres_outage import _with_database
from tests.bot.channels.test_run_telegram import _config, _wait_for, _zhoubao, listen_port
from tests.postgres_server import OwnPostgres, postgres_bin

CHAT = 7001

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _get(client: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with client.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def _until(client: aiohttp.ClientSession, url: str, status: int, seconds: float) -> Any:
    """GET `url` until it answers `status`; return the body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last: object = None
    while loop.time() < deadline:
        try:
            code, body = await _get(client, url)
            if code == status:
                return body
            last = (code, body)
        except aiohttp.ClientConnectionError as error:
            last = error
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered {status}: {last}")


async def test_health_ready_and_metrics_of_zhoubao_run_as_the_database_stops(
    tmp_path: Path, telegram_server: TelegramServer
) -> None:
    with OwnPostgres() as postgres:
        config = _config(tmp_path, telegram_server)
        _with_database(config, postgres.url)
        base = f"http://127.0.0.1:{listen_port(config)}"
        invite = await _zhoubao(config, "invite", "--window", "商务厅", "--role", "staff")
        out, err = await invite.communicate()
        assert invite.returncode == 0, err.decode()
        code = out.decode().split("\n")[0].split("：")[1]

        run = await _zhoubao(config, "run", ZHOUBAO_TELEGRAM_TOKEN=telegram_server.token)
        try:
            async with aiohttp.ClientSession() as client:
                assert await _until(client, f"{base}/healthz", 200, 30) == {"status": "alive"}
                ready = await _until(client, f"{base}/readyz", 200, 30)
                assert ready["role"] == "leader" and ready["database"]["ok"] is True
                assert ready["channels"] == {"telegram": "running"}

                # The first tick opens the first issue; under load it may end after /readyz
                # turned 200, so wait for its job time rather than race it.
                opened = ("zhoubao_job_last_run_timestamp_seconds", (("job", "open"),))
                loop = asyncio.get_running_loop()
                give_up = loop.time() + 30
                while True:
                    status, text = await _get(client, f"{base}/metrics")
                    assert status == 200
                    before = _samples(text)
                    if opened in before or loop.time() > give_up:
                        break
                    await asyncio.sleep(0.2)
                sent = ("zhoubao_outbox_sent_total", (("channel", "telegram"),))
                assert before[("zhoubao_leader", ())] == 1.0
                assert before[("zhoubao_database_up", ())] == 1.0
                assert before[opened] > 0
                assert [k for k in before if k[0] == "zhoubao_lease_info"], before

                # A turn (binding) and its two replies sent through the Bot API.
                telegram_server.inject_message(CHAT, CHAT, f"/start {code}")
                await _wait_for(lambda: len(telegram_server.sent_to(CHAT)) >= 2, 30)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while True:  # the send is counted just after the Bot API answered it
                    after = _samples((await _get(client, f"{base}/metrics"))[1])
                    if after[sent] >= before[sent] + 2 or loop.time() > deadline:
                        break
                    await asyncio.sleep(0.2)
                assert after[sent] >= before[sent] + 2
                assert after[("zhoubao_turn_seconds_count", ())] >= 1
                assert after[("zhoubao_turn_seconds_sum", ())] > 0
                assert after[("zhoubao_turn_batch_size_count", ())] >= 1
                assert (
                    "zhoubao_outbox_queued",
                    (("channel", "telegram"), ("lane", "reply")),
                ) in after
                assert after[("zhoubao_outbox_rate_limited_total", (("channel", "telegram"),))] == 0

                await asyncio.to_thread(postgres.stop)
                down = await _until(client, f"{base}/readyz", 503, 30)
                assert down["ready"] is False and down["database"]["ok"] is False
                assert down["reasons"][0].startswith("database: "), down
                assert await _until(client, f"{base}/healthz", 200, 5) == {"status": "alive"}

                await asyncio.to_thread(postgres.start)
                back = await _until(client, f"{base}/readyz", 200, 60)
                assert back["role"] == "leader"
        finally:
            run.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(run.communicate(), 60)
    assert run.returncode == 0, err.decode()
    assert f"网页服务：http://127.0.0.1:{listen_port(config)}" in out.decode()
