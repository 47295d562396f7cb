"""The service's metrics, in the Prometheus format through the official client library.

Every `App` has a `Metrics` of its own, with a registry of its own (never the library's global
one): two apps in one process, as in the tests, count apart. The counters and histograms are
updated where things happen (the engine, the outbox dispatcher, the runner's ticks); the outbox
depth and the lease are read from the database when `/metrics` is scraped, through
`DatabaseSnapshot`, at most once per `SNAPSHOT_TTL` however often it is scraped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Lane
from storage.repositories import observe
from storage.repositories.observe import LeaseView, QueueDepth

LANES = tuple(lane.name.lower() for lane in Lane)  # every lane has a sample, 0 when empty


logger = logging.getLogger(__name__)

SNAPSHOT_TTL: Final = 5.0  # s: a scrape storm reads the database at most this often
SNAPSHOT_TIMEOUT: Final = 2.0  # s: a scrape never waits longer for the database
LEASE_NAME: Final = "scheduler"  # bot.runner.LEASE_NAME (the runner imports this module)
# Turn latency: from an update entering Engine.handle to its commit. A turn waits for the
# commit under way before its own (group commit), so tens of milliseconds are normal.
TURN_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # bot.engine.MAX_BATCH is 256
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The metric families of one zhoubao process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sent = Counter(
            "zhoubao_outbox_sent", "Messages the channel confirmed.", ["channel"], registry=r
        )
        self.rate_limited = Counter(
            "zhoubao_outbox_rate_limited",
            "Sends refused with a retry-after (Telegram's 429); the message is retried.",
            ["channel"],
            registry=r,
        )
        self.retried = Counter(
            "zhoubao_outbox_retried",
            "Sends that failed for a transient reason and were scheduled again.",
            ["channel"],
            registry=r,
        )
        self.failed = Counter(
            "zhoubao_outbox_failed",
            "Messages given up on (a permanent error or too many attempts).",
            ["channel"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "zhoubao_turn_seconds",
            "From an update entering the engine to its commit.",
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "zhoubao_turn_batch_size",
            "Updates committed together in one transaction (group commit).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.leader = Gauge(
            "zhoubao_leader",
            "1 while this process holds the lease (runs the weekly jobs and sends), else 0.",
            registry=r,
        )
        self.last_tick = Gauge(
            "zhoubao_scheduler_last_tick_timestamp_seconds",
            "When this process last compared the calendar with the database, as leader.",
            registry=r,
        )
        self.job_last_run = Gauge(
            "zhoubao_job_last_run_timestamp_seconds",
            "When each weekly job (open, prompt, remind, close, skip) last did something here.",
            ["job"],
            registry=r,
        )
        self.job_failures = Counter(
            "zhoubao_job_failures",
            "Weekly jobs that failed (rolled back, retried at the next tick).",
            ["job"],
            registry=r,
        )
        self.snapshot = DatabaseSnapshot()
        r.register(self.snapshot)

    def for_channels(self, channels: Iterable[str]) -> None:
        """Show every channel's counters from the start, at 0, rather than from its first event."""
        for channel in channels:
            for counter in (self.sent, self.rate_limited, self.retried, self.failed):
                counter.labels(channel)
            self.snapshot.channels.add(channel)

    # --- Set by the parts of zhoubao that do the work. ---------------------------------------

    def count_sent(self, channel: str, messages: int = 1) -> None:
        self.sent.labels(channel).inc(messages)

    def count_rate_limited(self, channel: str) -> None:
        self.rate_limited.labels(channel).inc()

    def count_retried(self, channel: str) -> None:
        self.retried.labels(channel).inc()

    def count_failed(self, channel: str) -> None:
        self.failed.labels(channel).inc()

    def jobs_done(self, done: Iterable[str], at: float | None = None) -> None:
        """Record a tick's results (`scheduler.jobs.run_due_jobs`: "open 2022-09-13" …)."""
        at = time.time() if at is None else at
        self.last_tick.set(at)
        for entry in done:
            words = entry.split()
            if not words:
                continue
            if words[0] == "failed" and len(words) > 1:
                self.job_failures.labels(words[1]).inc()
            else:
                self.job_last_run.labels(words[0]).set(at)

    # --- Scraped. ----------------------------------------------------------------------------

    async def exposition(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> bytes:
        """The text `/metrics` answers: the database read first (cached), then every family."""
        await self.snapshot.refresh(sessions, clock)
        return generate_latest(self.registry)


@dataclass
class _Reading:
    depths: list[QueueDepth] = field(default_factory=list)
    lease: LeaseView | None = None
    database_up: bool = False
    at: datetime | None = None  # when it was read (the app's clock)
    taken: float = float("-inf")  # time.monotonic() of the reading


class DatabaseSnapshot(Collector):
    """What `/metrics` reads from the database: the outbox depth per channel and lane, the age
    of the oldest queued message, the lease. Read at scrape time, kept `SNAPSHOT_TTL` seconds;
    scrapes that arrive together share one reading."""

    def __init__(self, ttl: float = SNAPSHOT_TTL) -> None:
        self.ttl = ttl
        self.channels: set[str] = set()  # shown at 0 when nothing of theirs is queued
        self.reads = 0  # readings taken (for the tests: a scrape storm reads once)
        self._reading = _Reading()
        self._lock = asyncio.Lock()

    async def refresh(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        async with self._lock:  # a scrape storm: the others wait for this reading and use it
            if time.monotonic() - self._reading.taken < self.ttl:
                return
            reading = _Reading(taken=time.monotonic(), at=clock())
            try:
                async with asyncio.timeout(SNAPSHOT_TIMEOUT):
                    async with sessions() as session:
                        reading.depths = await observe.queue_depths(session)
                        reading.lease = await observe.lease(session, LEASE_NAME)
                reading.database_up = True
            except Exception as error:  # the families show the database down, not an error
                logger.debug("metrics not read from the database", exc_info=error)
                reading.depths = self._reading.depths  # the last known, flagged by database_up
                reading.lease = self._reading.lease
            self.reads += 1
            self._reading = reading

    def collect(self) -> Iterator[Metric]:
        reading = self._reading
        up = GaugeMetricFamily(
            "zhoubao_database_up",
            "1 when the last read of the outbox and lease for /metrics succeeded.",
            value=1.0 if reading.database_up else 0.0,
        )
        yield up
        queued = GaugeMetricFamily(
            "zhoubao_outbox_queued",
            "Messages waiting in the outbox, per channel and lane (reply, bulk).",
            labels=["channel", "lane"],
        )
        oldest = GaugeMetricFamily(
            "zhoubao_outbox_oldest_queued_age_seconds",
            "How long the oldest queued message of each channel and lane has waited.",
            labels=["channel", "lane"],
        )
        seen: set[tuple[str, str]] = set()
        for depth in reading.depths:
            seen.add((depth.channel, depth.lane))
            queued.add_metric([depth.channel, depth.lane], depth.queued)
            age = 0.0
            if depth.oldest_created_at is not None and reading.at is not None:
                age = max((reading.at - depth.oldest_created_at).total_seconds(), 0.0)
            oldest.add_metric([depth.channel, depth.lane], age)
        for channel in sorted(self.channels):
            for lane in LANES:
                if (channel, lane) not in seen:
                    queued.add_metric([channel, lane], 0)
                    oldest.add_metric([channel, lane], 0.0)
        yield queued
        yield oldest
        lease = reading.lease
        holder = InfoMetricFamily(
            "zhoubao_lease", "The process named in the lease row (it may have expired)."
        )
        expires = GaugeMetricFamily(
            "zhoubao_lease_expires_timestamp_seconds", "When the stored lease runs out."
        )
        epoch = GaugeMetricFamily(
            "zhoubao_lease_epoch", "The lease's epoch: +1 each time another process takes it."
        )
        if lease is not None:
            holder.add_metric([], {"holder": lease.holder})
            expires.add_metric([], lease.expires_at.timestamp())
            if lease.epoch is not None:
                epoch.add_metric([], lease.epoch)
        yield holder
        yield expires
        yield epoch  # no sample until leases have an epoch (the one-sender work adds it)
