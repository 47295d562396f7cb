"""`zhoubao run`: the scheduler, the outbox dispatcher and the channels, in one process.

Several processes may share one PostgreSQL database; a lease in the database decides which
one runs the weekly jobs and sends the outbox, and another takes over within a minute when
the holder stops renewing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App
from bot.channels.base import Channel, last_error_of, status_of
from bot.channels.pump import pump_updates
from bot.outage import database_outage
from bot.outbox import Dispatcher, Fence
from bot.ratelimit import Limits
from handlers.framework.binding import codes_of_other_keys
from handlers.types import ChannelKind, Incoming
from scheduler.jobs import run_due_jobs
from scheduler.maintenance import prune_old_rows
from scheduler.triggers import WeekEventTrigger
from storage.repositories import cursors, leases

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=45)  # a dead holder is replaced within a minute
# The dispatcher stops starting sends this long before the lease would expire, so that a
# process stopped or cut off from the database is quiet before another takes over.
LEASE_MARGIN = timedelta(seconds=5)
RENEW_EVERY = 15.0  # seconds
TICK_EVERY = 30.0  # seconds; the week trigger fires at the planned moments themselves
STOP_GRACE = 10.0  # seconds the channels get to close cleanly on shutdown
STATE_EVERY = 10.0  # seconds between records of the channels' connection state
SEND_POLL = 1.0  # seconds between looks at the outbox when nothing woke the dispatcher
PRUNE_EVERY = 3600.0  # seconds between runs of the retention job
PRUNE_FIRST = 60.0  # seconds after start of its first run (start itself stays quick)


class Service:
    """One zhoubao process: takes the lease when it can, then schedules and sends."""

    def __init__(
        self,
        app: App,
        channels: Mapping[ChannelKind, Channel],
        *,
        limits: Mapping[ChannelKind, Limits] | None = None,
        holder: str | None = None,
    ) -> None:
        self.app = app
        self.channels = dict(channels)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.metrics = app.metrics
        self.metrics.for_channels(kind.value for kind in self.channels)
        self.fence = Fence(LEASE_NAME, self.holder)
        self.dispatcher = Dispatcher(
            app.sessions,
            self.channels,
            app.clock,
            limits,
            report_failure=True,
            fence=self.fence,
            metrics=self.metrics,
        )
        self.is_leader = False
        self.lease_known = False  # whether this process has tried the lease yet (/readyz)
        self.connected: set[ChannelKind] = set()  # channels started while leading (/readyz)
        self._tick_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._leading = asyncio.Event()  # set while this process holds the lease
        self._following = asyncio.Event()  # set while it does not
        self._following.set()

    async def renew_lease(self) -> bool:
        """Take or keep the lease; return whether this process leads now.

        The dispatcher sends under the lease's epoch until a safety margin before the lease
        would expire, counted from before this renewal began (`Fence`).
        """
        started = time.monotonic()
        now = self.app.clock()
        try:
            async with self.app.sessions() as session, session.begin():
                epoch = await leases.acquire(session, LEASE_NAME, self.holder, now, now + LEASE_TTL)
        except BaseException:
            self.fence.lost()
            raise
        self.fence.renewed(epoch, started, (LEASE_TTL - LEASE_MARGIN).total_seconds())
        self._set_leader(epoch is not None)
        return epoch is not None

    def _set_leader(self, leading: bool) -> None:
        if leading != self.is_leader:
            logger.info("leadership changed", extra={"holder": self.holder, "leader": leading})
        self.is_leader = leading
        self.lease_known = True
        self.metrics.leader.set(1 if leading else 0)
        (self._leading if leading else self._following).set()
        (self._following if leading else self._leading).clear()

    async def release_lease(self) -> None:
        if not self.is_leader:
            return
        self.fence.lost()
        async with self.app.sessions() as session, session.begin():
            await leases.release(session, LEASE_NAME, self.holder, self.app.clock())
        self._set_leader(False)

    async def tick(self) -> list[str]:
        """Run the weekly jobs that are due, if this process leads."""
        async with self._tick_lock:
            if not await self.renew_lease():
                return []
            done = await run_due_jobs(self.app.sessions, self.app.week, self.app.clock())
            self.metrics.jobs_done(done)
        if done:
            logger.info("jobs done", extra={"jobs": done})
            self._wake.set()
        return done

    async def prune(self) -> dict[str, int]:
        """Delete rows older than the retention period, if this process leads.

        Independent of `tick`: it has its own schedule, and a failure stays its own.
        """
        if not self.is_leader:
            return {}
        keep_for = timedelta(days=self.app.config.security.retention_days)
        return await prune_old_rows(self.app.sessions, keep_for, self.app.clock())

    async def send_due(self) -> int:
        """Send what the outbox holds for this process's channels, if it leads."""
        if not self.is_leader:
            return 0
        # Each channel at its own pace: a slow one does not hold the others back. Every drain
        # ends before a failure is raised, so none is left running on its own.
        results = await asyncio.gather(
            *(self.dispatcher.drain(kind) for kind in self.channels), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    def wake(self) -> None:
        """Something was queued: look at the outbox now rather than at the next poll."""
        self._wake.set()
        self.dispatcher.wake()

    async def handle(self, update: Incoming) -> None:
        """Handle one incoming update, then look at the outbox at once for its replies."""
        await self.app.engine.handle(update)
        self.wake()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set: channels, lease, scheduler and dispatcher."""
        scheduler = AsyncIOScheduler(timezone=self.app.week.rules.zone)
        guarded = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self._safe_tick, IntervalTrigger(seconds=TICK_EVERY), **guarded)
        trigger = WeekEventTrigger(self.app.week.calendar, self.app.week.rules)
        scheduler.add_job(self._safe_tick, trigger, **guarded)
        first_prune = datetime.now(self.app.week.rules.zone) + timedelta(seconds=PRUNE_FIRST)
        scheduler.add_job(
            self._safe_prune,
            IntervalTrigger(seconds=PRUNE_EVERY),
            next_run_time=first_prune,
            **guarded,
        )
        tasks = [
            asyncio.create_task(self._keep_lease(stop)),
            asyncio.create_task(self._send_loop(stop)),
            asyncio.create_task(self._run_channels(stop)),
        ]
        scheduler.start()
        try:
            await self._check_invite_key()
            await self._safe_tick()  # catch up at once on what happened while we were down
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            stop.set()
            # Let the channels close in order (pumps, then the adapters) before cancelling.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(tasks[2]), STOP_GRACE)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.release_lease()

    async def _run_channels(self, stop: asyncio.Event) -> None:
        """Connect the channels while this process leads; the standby stays off the networks.

        Telegram allows one poller per bot, and two processes answering one chat would
        interleave: so only the lease holder talks to the chat networks.
        """
        while not stop.is_set():
            await _first(self._leading, stop)
            if stop.is_set():
                return
            resign = asyncio.Event()
            started: list[Channel] = []
            try:
                for channel in self.channels.values():
                    await channel.start()
                    started.append(channel)
                    self.connected.add(channel.kind)
                pumps = [
                    asyncio.create_task(pump_updates(channel, self.handle, resign))
                    for channel in started
                ]
                pumps.append(asyncio.create_task(self._report_states(started, resign)))
                await _first(self._following, stop)
                resign.set()
                await asyncio.gather(*pumps, return_exceptions=True)
            except Exception:  # a channel that cannot start: log, and try again shortly
                logger.exception("channels failed")
                await asyncio.sleep(5)
            finally:
                resign.set()
                self.connected.clear()
                for channel in started:
                    with contextlib.suppress(Exception):
                        await channel.stop()

    async def _report_states(self, channels: list[Channel], resign: asyncio.Event) -> None:
        """Record each channel's connection state for `zhoubao status`, until `resign`."""
        while True:
            done = resign.is_set()
            try:
                async with self.app.sessions() as session, session.begin():
                    for channel in channels:
                        status = "stopped" if done else status_of(channel)
                        detail = None if done else last_error_of(channel)
                        await cursors.set_state(
                            session, channel.kind.value, str(status), detail, self.app.clock()
                        )
            except Exception as error:
                if not database_outage.failed(error, "recording the channels' state"):
                    logger.exception("channel state not recorded")
            if done:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resign.wait(), STATE_EVERY)

    async def _safe_tick(self) -> None:
        try:
            await self.tick()
        except Exception as error:  # the edge of a scheduled job: log it, the next tick retries
            if not database_outage.failed(error, "running the weekly jobs"):
                logger.exception("scheduled tick failed")

    async def _check_invite_key(self) -> None:
        """Warn when unused invites were made with another invite.key (a server without a copy)."""
        try:
            async with self.app.sessions() as session:
                foreign = await codes_of_other_keys(session, self.app.settings, self.app.clock())
        except Exception:
            logger.exception("invite key check failed")
            return
        if foreign:
            logger.warning(
                "unused invites made with another invite.key cannot be recognised here: "
                "copy invite.key from the server that made them",
                extra={"invites": foreign},
            )

    async def _safe_prune(self) -> None:
        try:
            await self.prune()
        except Exception:  # its own job: the week goes on, the next run tries again
            logger.exception("scheduled prune failed")

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.renew_lease()
                database_outage.succeeded()
            except Exception as error:
                if not database_outage.failed(error, "renewing the lease"):
                    logger.exception("lease renewal failed")
                self.fence.lost()
                self._set_leader(False)
            await asyncio.sleep(RENEW_EVERY)

    async def _send_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.send_due()
            except Exception as error:
                if not database_outage.failed(error, "sending the outbox"):
                    logger.exception("outbox dispatch failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SEND_POLL)


async def _first(*events: asyncio.Event) -> None:
    """Wait until any of `events` is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
