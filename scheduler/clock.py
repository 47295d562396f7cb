"""Sources of the current time: the system clock and a frozen one for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Something that tells the current time."""

    def now(self) -> datetime:
        """Return the current time, time-zone aware."""
        ...


def _require_aware(moment: datetime) -> datetime:
    """Return `moment`, or raise ValueError if it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}; give it a time zone")
    return moment


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real time, in a given time zone."""

    tz: ZoneInfo = SHANGHAI

    def now(self) -> datetime:
        """Return the current time in this clock's time zone."""
        return datetime.now(self.tz)


class FrozenClock:
    """A clock that only moves when told to."""

    __slots__ = ("_now",)

    def __init__(self, now: datetime) -> None:
        self._now = _require_aware(now)

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()!r})"

    def now(self) -> datetime:
        """Return the frozen time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta` (backward if negative)."""
        self._now += delta

    def set(self, now: datetime) -> None:
        """Jump to `now`."""
        self._now = _require_aware(now)
