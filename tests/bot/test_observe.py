"""/healthz, /readyz and /metrics of `zhoubao run`'s web server, in process (SQLite and
PostgreSQL), with the aiohttp test client; tests/bot/channels/test_run_observe.py runs the real
process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.config import load_config, write_default_config
from bot.errors import ChannelError, ConfigError
from bot.metrics import Metrics
from bot.runner import Service
from bot.wiring import web_application
from handlers.types import ChannelKind, ChatKey, Outgoing
from scheduler.clock import FrozenClock
from storage.models import Role
from storage.repositories import outbox
from tests.fakes import RecordingChannel, bound_person

CONSOLE = ChannelKind.CONSOLE


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer: (name, sorted labels) → value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class FlakyChannel(RecordingChannel):
    """Refuses the first sends: a 429 with retry-after, then a permanent error."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals: list[ChannelError] = []

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        if self.refusals:
            raise self.refusals.pop(0)
        await super().send(to, message)


@pytest.fixture
async def served(
    app: App,
) -> AsyncIterator[tuple[Service, TestClient[web.Request, web.Application]]]:
    channel = RecordingChannel()
    service = Service(app, {CONSOLE: channel}, holder="test-holder")
    client = TestClient(TestServer(web_application(app, {CONSOLE: channel}, service)))
    await client.start_server()
    try:
        yield service, client
    finally:
        await client.close()


async def test_healthz_answers_alive_at_once(
    served: tuple[Service, TestClient[web.Request, web.Application]],
) -> None:
    _, client = served
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "alive"}


async def test_readyz_is_503_until_the_lease_is_tried_then_200_as_leader_or_standby(
    app: App, served: tuple[Service, TestClient[web.Request, web.Application]]
) -> None:
    service, client = served
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["ready"] is False and body["role"] == "starting"
    assert body["database"]["ok"] is True
    assert "lease: not tried yet" in body["reasons"]

    assert await service.renew_lease()
    # The leader's channels start in service.run; until then it is not ready.
    body = await (await client.get("/readyz")).json()
    assert body["role"] == "leader" and body["channels"] == {"console": "starting"}
    assert body["reasons"] == ["channel console: starting"]
    service.connected.add(CONSOLE)
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["ready"] is True and body["reasons"] == []
    assert body["channels"] == {"console": "running"} and body["holder"] == "test-holder"

    other = Service(app, {CONSOLE: RecordingChannel()}, holder="other")
    assert not await other.renew_lease()
    standby = TestClient(TestServer(web_application(app, other.channels, other)))
    await standby.start_server()
    try:
        response = await standby.get("/readyz")
        body = await response.json()
        assert response.status == 200, body
        assert body["role"] == "standby" and body["channels"] == {"console": "standby"}
        response = await standby.get("/readyz?role=leader")
        assert response.status == 503
        assert (await response.json())["reasons"] == ["role: standby"]
        assert (await client.get("/readyz?role=leader")).status == 200  # the leader
    finally:
        await standby.close()


async def test_readyz_is_503_with_the_reason_when_the_database_cannot_answer(
    app: App, served: tuple[Service, TestClient[web.Request, web.Application]]
) -> None:
    service, client = served
    await service.renew_lease()
    service.connected.add(CONSOLE)
    await app.database.dispose()
    original = app.sessions.kw.get("bind")

    class Broken:
        def __getattr__(self, name: str) -> object:
            raise ConnectionRefusedError("database down")

    app.sessions.configure(bind=Broken())
    try:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503, body
        assert body["database"]["ok"] is False
        assert body["reasons"][0].startswith("database: ")
        assert (await client.get("/healthz")).status == 200  # alive all the same
        metrics = samples(await (await client.get("/metrics")).text())
        assert metrics[("zhoubao_database_up", ())] == 0.0
    finally:
        app.sessions.configure(bind=original)


async def test_metrics_move_after_a_turn_a_send_a_429_and_a_failure(
    app: App, clock: FrozenClock, served: tuple[Service, TestClient[web.Request, web.Application]]
) -> None:
    service, client = served
    await service.renew_lease()
    before = samples(await (await client.get("/metrics")).text())
    assert before[("zhoubao_outbox_sent_total", (("channel", "console"),))] == 0.0
    assert before[("zhoubao_turn_seconds_count", ())] == 0.0
    assert before[("zhoubao_leader", ())] == 1.0
    assert before[("zhoubao_database_up", ())] == 1.0
    assert before[("zhoubao_lease_info", (("holder", "test-holder"),))] == 1.0

    # A conversation turn (binding) through the engine: its replies wait in the outbox.
    channel = service.channels[CONSOLE]
    assert isinstance(channel, RecordingChannel)
    person = await bound_person(app, channel, "商务厅小王", Role.STAFF, "商务厅")
    await person.send("帮助")  # another turn; Person's own dispatcher delivers to the fake
    clock.advance(timedelta(seconds=90))
    async with app.sessions() as session, session.begin():
        await outbox.enqueue_many(
            session,
            [
                outbox.queued_row(
                    channel="console",
                    chat_id=f"c{i}",
                    user_id=f"c{i}",
                    payload={"text": "提醒"},
                    now=clock.now() - timedelta(seconds=60 * i),
                )
                for i in (1, 2, 3)
            ],
        )
    service.metrics.snapshot.ttl = 0.0  # read the database at every scrape in this test
    queued = samples(await (await client.get("/metrics")).text())
    assert queued[("zhoubao_outbox_queued", (("channel", "console"), ("lane", "bulk")))] == 3
    age = queued[
        ("zhoubao_outbox_oldest_queued_age_seconds", (("channel", "console"), ("lane", "bulk")))
    ]
    assert age == pytest.approx(180.0, abs=1.0)

    flaky = FlakyChannel()
    flaky.refusals = [ChannelError("Too Many Requests", retry_after=1), ChannelError("blocked")]
    service.dispatcher._channels = {CONSOLE: flaky}  # type: ignore[attr-defined]
    await service.renew_lease()  # the clock moved past the lease: renew it, as the runner does
    await service.send_due()  # c1: 429 (deferred), c2: given up, c3: sent
    after = samples(await (await client.get("/metrics")).text())
    label = (("channel", "console"),)
    assert after[("zhoubao_outbox_sent_total", label)] == 1.0
    assert after[("zhoubao_outbox_rate_limited_total", label)] == 1.0
    assert after[("zhoubao_outbox_failed_total", label)] == 1.0
    assert after[("zhoubao_outbox_queued", (("channel", "console"), ("lane", "bulk")))] == 1
    assert after[("zhoubao_turn_seconds_count", ())] == 2.0  # the binding and 帮助
    assert after[("zhoubao_turn_seconds_sum", ())] > 0
    assert after[("zhoubao_turn_batch_size_count", ())] == 2.0


async def test_a_scrape_storm_reads_the_database_once_per_ttl(
    served: tuple[Service, TestClient[web.Request, web.Application]],
) -> None:
    service, client = served
    answers = await asyncio.gather(*(client.get("/metrics") for _ in range(20)))
    assert {answer.status for answer in answers} == {200}
    assert service.metrics.snapshot.reads == 1


async def test_tick_results_set_the_last_run_of_each_job(app: App, clock: FrozenClock) -> None:
    service = Service(app, {CONSOLE: RecordingChannel()}, holder="ticker")
    done = await service.tick()
    assert done  # a new database: the first issue opens at once
    text = (await service.metrics.exposition(app.sessions, app.clock)).decode()
    families = samples(text)
    assert families[("zhoubao_job_last_run_timestamp_seconds", (("job", "open"),))] > 0
    assert families[("zhoubao_scheduler_last_tick_timestamp_seconds", ())] > 0


def test_two_metrics_registries_in_one_process_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.count_sent("telegram")
    assert first.sent.labels("telegram")._value.get() == 1.0
    assert second.sent.labels("telegram")._value.get() == 0.0


def test_failed_jobs_count_by_job_and_do_not_set_the_last_run() -> None:
    metrics = Metrics()
    metrics.jobs_done(["failed close 2022-09-12", "remind 2022-09-15T15:00:00+08:00 3"], at=5.0)
    assert metrics.job_failures.labels("close")._value.get() == 1.0
    assert metrics.job_last_run.labels("remind")._value.get() == 5.0
    assert metrics.last_tick._value.get() == 5.0


def test_server_listen_defaults_to_the_telegram_listen_and_may_not_contradict_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    assert load_config(path).listen == "127.0.0.1:8080"
    text = path.read_text("utf-8")
    path.write_text(text.replace("\n[server]\n", '\n[server]\nlisten = "0.0.0.0:9100"\n'))
    assert load_config(path).listen == "0.0.0.0:9100"
    both = path.read_text("utf-8").replace(
        'mode = "polling"', 'mode = "polling"\nlisten = "127.0.0.1:9000"', 1
    )
    path.write_text(both)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "[server]" in str(raised.value)


def test_the_metrics_read_the_lease_the_runner_holds() -> None:
    from bot import metrics, runner

    assert metrics.LEASE_NAME == runner.LEASE_NAME
