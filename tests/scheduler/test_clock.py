"""`SystemClock` and `FrozenClock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from scheduler.clock import SHANGHAI, Clock, FrozenClock, SystemClock


def test_frozen_clock_moves_forward_when_advanced() -> None:
    clock = FrozenClock(datetime(2022, 9, 16, 17, 0, tzinfo=SHANGHAI))

    clock.advance(timedelta(days=3, hours=-8))

    assert clock.now() == datetime(2022, 9, 19, 9, 0, tzinfo=SHANGHAI)


def test_frozen_clock_stays_put_when_not_advanced() -> None:
    start = datetime(2022, 9, 16, 17, 0, tzinfo=SHANGHAI)
    clock = FrozenClock(start)

    assert (clock.now(), clock.now()) == (start, start)


def test_frozen_clock_jumps_when_set() -> None:
    clock = FrozenClock(datetime(2022, 9, 16, 17, 0, tzinfo=SHANGHAI))
    later = datetime(2023, 1, 2, 8, 30, tzinfo=SHANGHAI)

    clock.set(later)

    assert clock.now() == later


def test_frozen_clock_raises_when_given_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        FrozenClock(datetime(2022, 9, 16, 17, 0))  # noqa: DTZ001 - the naive value is the point


def test_frozen_clock_set_raises_when_given_naive_datetime() -> None:
    clock = FrozenClock(datetime(2022, 9, 16, 17, 0, tzinfo=SHANGHAI))

    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2022, 9, 19, 9, 0))  # noqa: DTZ001 - the naive value is the point


def test_system_clock_returns_shanghai_time_when_no_zone_given() -> None:
    with time_machine.travel(datetime(2022, 9, 15, 16, 30, tzinfo=UTC), tick=False):
        now = SystemClock().now()

    assert (now, now.tzinfo) == (datetime(2022, 9, 16, 0, 30, tzinfo=SHANGHAI), SHANGHAI)


def test_both_clocks_satisfy_the_protocol_when_typed_as_clock() -> None:
    clocks: list[Clock] = [SystemClock(SHANGHAI), FrozenClock(datetime(2022, 9, 16, tzinfo=UTC))]

    assert all(clock.now().tzinfo is not None for clock in clocks)
