"""Assemble zhoubao from a configuration file: database, engine, calendar, dispatcher."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import files, logs, messages
from bot.config import Config, load_config
from bot.engine import Engine
from bot.errors import ConfigError
from bot.invite_key import InviteKeyError, load_or_create
from bot.metrics import Metrics
from bot.typeset import typesetter
from handlers.settings import HandlerSettings
from scheduler.calendar import WorkCalendar
from scheduler.clock import SystemClock
from scheduler.jobs import NumberingDefaults, WeekSettings
from scheduler.plan import ScheduleRules
from storage.database import create_engine, migrate, session_factory
from storage.errors import StorageError
from storage.repositories.windows import WindowSpec, sync_windows


@dataclass
class App:
    config: Config
    database: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    settings: HandlerSettings
    engine: Engine
    calendar: WorkCalendar
    numbering: NumberingDefaults | None
    clock: Callable[[], datetime]
    week: WeekSettings
    metrics: Metrics = field(default_factory=Metrics)  # this process's own registry

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    async def close(self) -> None:
        await self.database.dispose()


async def open_app(config: Config, clock: Callable[[], datetime] | None = None) -> App:
    """Connect, migrate, sync the configured windows, and build the engine."""
    logs.protect(config)  # before anything could log a secret the file points to
    files.check_data_dir(config.storage.data_dir)  # before anything is written there
    if clock is None:
        clock = SystemClock(config.schedule.zone()).now
    invite_key = _invite_key(config)  # before the database: nothing to close if it fails
    database = create_engine(config.storage.url)
    await migrate(database)
    sessions = session_factory(database)
    async with sessions() as session, session.begin():
        await sync_windows(
            session,
            [WindowSpec(w.name, w.short_name, w.order) for w in config.windows_in_order()],
        )
    calendar = WorkCalendar(
        frozenset(config.schedule.extra_holidays), frozenset(config.schedule.extra_workdays)
    )
    settings = HandlerSettings(
        template=config.bulletin.to_template(),
        timezone_name=config.schedule.timezone,
        is_workday=calendar.is_workday,
        min_item_chars=config.intake.min_item_chars,
        invite_key=invite_key,
        stranger_reply_interval=timedelta(minutes=config.security.stranger_reply_minutes),
        typeset=typesetter(config.draft.pdf, config.draft.double_sided),
    )
    configured = config.numbering
    numbering = (
        None
        if configured is None
        else NumberingDefaults(configured.year, configured.next_number, configured.next_total)
    )
    schedule = config.schedule
    rules = ScheduleRules(
        zone=schedule.zone(),
        open_time=schedule.open_time,
        deadline_time=schedule.deadline_time,
        reminders=tuple((r.day_offset, r.time) for r in schedule.reminders),
    )
    metrics = Metrics()
    return App(
        config=config,
        database=database,
        sessions=sessions,
        settings=settings,
        engine=Engine(sessions, settings, clock, metrics),
        calendar=calendar,
        numbering=numbering,
        clock=clock,
        week=WeekSettings(calendar, rules, numbering, settings.template, settings.typeset),
        metrics=metrics,
    )


def _invite_key(config: Config) -> bytes:
    try:
        key = load_or_create(config.storage.data_dir)
    except InviteKeyError as error:
        message = messages.INVITE_KEY_UNUSABLE.format(reason=error)
        raise ConfigError(message, key="storage.data_dir") from None
    logs.add_secrets(key.hex())  # never logged; redacted all the same, as every secret is
    return key


async def open_app_from(path: Path, clock: Callable[[], datetime] | None = None) -> App:
    """Load the configuration at `path` and open the app; ConfigError if the database fails."""
    config = load_config(path)
    try:
        return await open_app(config, clock)
    except (OSError, StorageError, SQLAlchemyError) as error:
        # The database named in the file cannot be opened: say which file and key.
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        raise ConfigError(
            messages.DATABASE_UNUSABLE.format(path=path, reason=reason),
            path=str(path),
            key="storage.url",
        ) from None


def settle_after_start() -> None:
    """Take what starting allocated (modules, configuration, mappers) out of the collector's scans.

    Those objects live as long as the process, yet every full collection would walk them all
    again: measured here, that made collections that stalled the event loop for 70 ms under
    load, against 12 ms once frozen (`python -m benchmarks --only turns`). Call it once, when
    the long-running process has started; objects frozen are never collected as cycles.
    """
    gc.collect()
    gc.freeze()
