"""`zhoubao run`'s service: the lease between processes, and crash safety of the deadline."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot import runner
from bot.app import App
from bot.errors import ChannelError
from bot.runner import LEASE_TTL, Service
from handlers import messages
from handlers.types import ChannelKind, ChatKey, Outgoing
from report.dates import format_period
from scheduler import jobs
from scheduler.clock import SHANGHAI, FrozenClock
from storage.models import ProcessedUpdate, Role
from storage.repositories import cursors
from tests.fakes import RecordingChannel, bound_person, start_app, texts


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


MONDAY, THURSDAY, FRIDAY = date(2022, 9, 19), date(2022, 9, 22), date(2022, 9, 23)


async def test_two_services_send_each_prompt_and_reminder_once_and_one_takes_over(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    clock.set(at(MONDAY, 8))
    first = await start_app(tmp_path / "a", db_url, clock)
    second = await start_app(tmp_path / "b", db_url, clock)
    try:
        channel = RecordingChannel()
        housing = await bound_person(first, channel, "住建厅小张", Role.STAFF, "住建厅")
        await housing.inbox()
        a = Service(first, {ChannelKind.CONSOLE: channel}, holder="a")
        b = Service(second, {ChannelKind.CONSOLE: channel}, holder="b")

        async def both_at(when: datetime) -> list[list[str]]:
            clock.set(when)
            # A live leader renews its lease every few seconds; the jumps of this test are
            # far longer than the lease, so renew for it first, as it would have all along.
            for service in (a, b):
                if service.is_leader:
                    await service.renew_lease()
            done = await asyncio.gather(a.tick(), b.tick())
            await asyncio.gather(a.send_due(), b.send_due())
            return list(done)

        # Whichever takes the lease first does the work; the other does nothing.
        assert sorted(await both_at(at(MONDAY, 9))) == [[], ["open 2022-09-19"]]
        assert sorted([a.is_leader, b.is_leader]) == [False, True]
        leader, standby = (a, b) if a.is_leader else (b, a)
        thursday_reminder = f"remind {at(THURSDAY, 15).isoformat()} 1"
        assert sorted(await both_at(at(THURSDAY, 15))) == [[], [thursday_reminder]]
        assert leader.is_leader and not standby.is_leader
        assert await both_at(at(THURSDAY, 15, 1)) == [[], []]

        # The leader renews at 8:59:50 and dies: it stops renewing. Within the lease's life
        # nothing happens; after it, the standby takes over and sends Friday's reminder, once.
        assert await both_at(at(FRIDAY, 8, 59) + timedelta(seconds=50)) == [[], []]
        clock.set(at(FRIDAY, 9))
        assert await standby.tick() == []
        clock.set(at(FRIDAY, 8, 59) + timedelta(seconds=50) + LEASE_TTL + timedelta(seconds=1))
        assert await standby.tick() == [f"remind {at(FRIDAY, 9).isoformat()} 1"]
        assert await standby.tick() == []
        assert standby.is_leader
        await standby.send_due()
        period = format_period(MONDAY, FRIDAY)
        assert texts(await housing.inbox()) == [
            messages.weekly_prompt("住建厅窗口", period),
            messages.reminder("住建厅窗口", period),
            messages.reminder("住建厅窗口", period),
        ]
    finally:
        await first.close()
        await second.close()


async def test_editor_gets_draft_once_when_process_dies_between_deadline_and_delivery(
    tmp_path: Path, db_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.set(at(MONDAY, 8))
    app = await start_app(tmp_path, db_url, clock)
    channel = RecordingChannel()
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.inbox()
    already = len(channel.sent)
    assert await jobs.run_due_jobs(app.sessions, app.week, at(MONDAY, 9)) == ["open 2022-09-19"]

    # The process dies while closing (after the deadline, before the draft is queued): the
    # transaction never commits, as with a kill -9 at that point.
    async def die(*args: object, **kwargs: object) -> int:
        raise SystemExit("killed")

    monkeypatch.setattr(jobs, "queue_draft", die)
    with pytest.raises(SystemExit):
        await jobs.run_due_jobs(app.sessions, app.week, at(FRIDAY, 12))
    await app.close()
    monkeypatch.undo()

    restarted = await start_app(tmp_path, db_url, clock)
    try:
        service = Service(restarted, {ChannelKind.CONSOLE: channel}, holder="again")
        clock.set(at(FRIDAY, 12, 5))
        assert await service.tick() == ["close 2022-09-19"]
        await service.send_due()
        # And once more, as if it restarted again after queueing: nothing new.
        clock.set(at(FRIDAY, 12, 6))
        assert await service.tick() == []
        await service.send_due()
        drafts = [m for key, m in channel.sent[already:] if key == editor.key]
        assert len(drafts) == 1
        assert drafts[0].text.startswith("2022年第31期（总第406期）已截止收集")
    finally:
        await restarted.close()


async def test_service_stops_and_releases_lease_when_stop_is_set(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    clock.set(at(MONDAY, 9, 30))
    service = Service(app, {ChannelKind.CONSOLE: channel}, holder="solo")
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    for _ in range(200):  # the first tick runs at start: wait for the issue it opens
        await asyncio.sleep(0.01)
        if service.is_leader:
            break
    stop.set()
    await asyncio.wait_for(running, 5)
    other = Service(app, {}, holder="next")
    assert await other.renew_lease()  # released, so no need to wait for it to expire


KILLED_AT_DEADLINE = """
import asyncio, os, signal, sys
from datetime import datetime
from pathlib import Path
from scheduler import jobs
from scheduler.clock import SHANGHAI, FrozenClock
from tests.fakes import start_app

async def main() -> None:
    clock = FrozenClock(datetime(2022, 9, 23, 12, 0, 30, tzinfo=SHANGHAI))
    app = await start_app(Path(sys.argv[1]), sys.argv[2], clock)
    real = jobs.queue_draft

    async def deliver_then_die(*args, **kwargs):
        await real(*args, **kwargs)  # the draft is queued in the open transaction ...
        os.kill(os.getpid(), signal.SIGKILL)  # ... and the process dies before the commit

    jobs.queue_draft = deliver_then_die
    await jobs.run_due_jobs(app.sessions, app.week, clock.now())

asyncio.run(main())
"""


def _run_killed(tmp_path: Path, db_url: str) -> int:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", KILLED_AT_DEADLINE, str(tmp_path), db_url],
        cwd=repo,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode


async def test_editor_gets_draft_once_when_process_is_killed_at_the_deadline(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    clock.set(at(MONDAY, 8))
    app = await start_app(tmp_path, db_url, clock)
    channel = RecordingChannel()
    try:
        editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
        await editor.inbox()
        assert await jobs.run_due_jobs(app.sessions, app.week, at(MONDAY, 9)) == ["open 2022-09-19"]
    finally:
        await app.close()

    # A real process, killed with SIGKILL between queueing the draft and committing.
    returncode = await asyncio.to_thread(_run_killed, tmp_path, db_url)
    assert returncode == -9

    restarted = await start_app(tmp_path, db_url, clock)
    try:
        service = Service(restarted, {ChannelKind.CONSOLE: channel}, holder="after-kill")
        clock.set(at(FRIDAY, 12, 2))
        assert await service.tick() == ["close 2022-09-19"]
        clock.set(at(FRIDAY, 12, 3))
        assert await service.tick() == []
        already = len(channel.sent)
        await service.send_due()
        drafts = [m for key, m in channel.sent[already:] if key == editor.key]
        assert len(drafts) == 1
    finally:
        await restarted.close()


class _BlockedBy(RecordingChannel):
    """A recording channel on which one chat has blocked the bot (a permanent refusal)."""

    def __init__(self, blocked: str) -> None:
        super().__init__()
        self.blocked = blocked

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        if to.chat_id == self.blocked:
            raise ChannelError("Forbidden: bot was blocked by the user", retry_after=None)
        await super().send(to, message)


async def test_editor_told_once_when_a_window_has_blocked_the_bot(
    app: App, clock: FrozenClock
) -> None:
    clock.set(at(MONDAY, 8))
    channel = _BlockedBy("住建厅小张")
    housing = await bound_person(app, channel, "住建厅小张", Role.STAFF, "住建厅")
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    service = Service(app, {ChannelKind.CONSOLE: channel}, holder="solo")
    clock.set(at(MONDAY, 9))
    assert await service.tick() == ["open 2022-09-19"]
    await service.send_due()
    clock.set(at(MONDAY, 15))
    await editor.send(messages.LABEL_REMIND)  # fails the same way: still one notice that day
    await service.send_due()

    notices = [m.text for key, m in channel.sent if key == editor.key]
    assert notices.count(messages.undeliverable("住建厅小张", "住建厅窗口")) == 1
    assert [key for key, _ in channel.sent if key == housing.key] == []


class _Reconnecting(RecordingChannel):
    """A recording channel whose connection is down, as a WeChat adapter reports it."""

    status = "disconnected"
    last_error = "StreamTerminatedError"


async def test_channel_state_recorded_for_status_while_running_and_stopped_after(
    app: App, clock: FrozenClock
) -> None:
    clock.set(at(MONDAY, 9, 30))
    service = Service(app, {ChannelKind.CONSOLE: _Reconnecting()}, holder="solo")
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))

    async def recorded() -> list[tuple[str, str, str | None]]:
        async with app.sessions() as session:
            return [(s.channel, s.status, s.detail) for s in await cursors.states(session)]

    for _ in range(300):
        await asyncio.sleep(0.01)
        if await recorded():
            break
    assert await recorded() == [("console", "disconnected", "StreamTerminatedError")]
    stop.set()
    await asyncio.wait_for(running, 5)
    assert await recorded() == [("console", "stopped", None)]


async def test_prune_runs_only_in_the_leading_process(app: App, clock: FrozenClock) -> None:
    old = clock.now() - timedelta(days=app.config.security.retention_days + 1)
    async with app.sessions() as session, session.begin():
        session.add(ProcessedUpdate(channel="telegram", update_id="1", processed_at=old))
    leader = Service(app, {}, holder="leader")
    standby = Service(app, {}, holder="standby")
    assert await leader.renew_lease()
    assert not await standby.renew_lease()

    assert await standby.prune() == {}
    assert (await leader.prune())["processed_updates"] == 1


async def test_week_goes_on_when_the_prune_fails(
    app: App,
    channel: RecordingChannel,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> dict[str, int]:
        raise RuntimeError("database went away")

    monkeypatch.setattr(runner, "prune_old_rows", broken)
    clock.set(at(MONDAY, 9, 30))
    service = Service(app, {ChannelKind.CONSOLE: channel}, holder="solo")
    assert await service.renew_lease()

    await service._safe_prune()  # what the scheduler calls every hour
    done = await service.tick()

    assert "scheduled prune failed" in caplog.text
    assert any(job.startswith("open") for job in done)


async def test_lease_epoch_stays_while_renewed_and_grows_whenever_taken_anew(
    app: App, clock: FrozenClock
) -> None:
    a = Service(app, {}, holder="a")
    b = Service(app, {}, holder="b")
    assert await a.renew_lease()
    first = a.fence.held()
    clock.advance(timedelta(seconds=15))
    assert await a.renew_lease()
    assert a.fence.held() == first  # renewed: the same epoch

    clock.advance(LEASE_TTL + timedelta(seconds=1))  # a stopped: its lease expires
    assert await b.renew_lease()
    assert b.fence.held() == (first or 0) + 1
    assert not await a.renew_lease()
    assert a.fence.held() is None  # lost: it sends nothing more

    clock.advance(LEASE_TTL + timedelta(seconds=1))  # b stopped too; a comes back
    assert await a.renew_lease()
    assert a.fence.held() == (first or 0) + 2
    await a.release_lease()
    assert a.fence.held() is None
