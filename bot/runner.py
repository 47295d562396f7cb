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
import uuid
from collections.abc import Mapping
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App
from bot.channels.base import Channel
from bot.outbox import Dispatcher
from bot.ratelimit import Limits
from handlers.types import ChannelKind
from scheduler.jobs import run_due_jobs
from scheduler.triggers import WeekEventTrigger
from storage.repositories import leases

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=45)  # a dead holder is replaced within a minute
RENEW_EVERY = 15.0  # seconds
TICK_EVERY = 30.0  # seconds; the week trigger fires at the planned moments themselves
SEND_POLL = 1.0  # seconds between looks at the outbox when nothing woke the dispatcher


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
        self.dispatcher = Dispatcher(app.sessions, self.channels, app.clock, limits)
        self.is_leader = False
        self._tick_lock = asyncio.Lock()
        self._wake = asyncio.Event()

    async def renew_lease(self) -> bool:
        """Take or keep the lease; return whether this process leads now."""
        now = self.app.clock()
        async with self.app.sessions() as session, session.begin():
            leading = await leases.acquire(session, LEASE_NAME, self.holder, now, now + LEASE_TTL)
        if leading != self.is_leader:
            logger.info("leadership changed", extra={"holder": self.holder, "leader": leading})
        self.is_leader = leading
        return leading

    async def release_lease(self) -> None:
        if not self.is_leader:
            return
        async with self.app.sessions() as session, session.begin():
            await leases.release(session, LEASE_NAME, self.holder, self.app.clock())
        self.is_leader = False

    async def tick(self) -> list[str]:
        """Run the weekly jobs that are due, if this process leads."""
        async with self._tick_lock:
            if not await self.renew_lease():
                return []
            done = await run_due_jobs(self.app.sessions, self.app.week, self.app.clock())
        if done:
            logger.info("jobs done", extra={"jobs": done})
            self._wake.set()
        return done

    async def send_due(self) -> int:
        """Send what the outbox holds for this process's channels, if it leads."""
        if not self.is_leader:
            return 0
        sent = 0
        for kind in self.channels:
            sent += await self.dispatcher.drain(kind)
        return sent

    def wake(self) -> None:
        """Something was queued: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set: channels, lease, scheduler and dispatcher."""
        for channel in self.channels.values():
            await channel.start()
        scheduler = AsyncIOScheduler(timezone=self.app.week.rules.zone)
        guarded = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self._safe_tick, IntervalTrigger(seconds=TICK_EVERY), **guarded)
        trigger = WeekEventTrigger(self.app.week.calendar, self.app.week.rules)
        scheduler.add_job(self._safe_tick, trigger, **guarded)
        tasks = [
            asyncio.create_task(self._keep_lease(stop)),
            asyncio.create_task(self._send_loop(stop)),
        ]
        scheduler.start()
        try:
            await self._safe_tick()  # catch up at once on what happened while we were down
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for channel in self.channels.values():
                await channel.stop()
            await self.release_lease()

    async def _safe_tick(self) -> None:
        try:
            await self.tick()
        except Exception:  # the edge of a scheduled job: log it, the next tick retries
            logger.exception("scheduled tick failed")

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.renew_lease()
            except Exception:
                logger.exception("lease renewal failed")
                self.is_leader = False
            await asyncio.sleep(RENEW_EVERY)

    async def _send_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.send_due()
            except Exception:
                logger.exception("outbox dispatch failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SEND_POLL)
