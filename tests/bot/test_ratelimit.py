"""The rate limiter, on a fake monotonic clock whose only sleeps are the limiter's own.

`bot.ratelimit` sleeps through `asyncio.sleep`; the tests swap the module's `asyncio` name for
a stand-in whose `sleep` records the delay and moves the fake clock on, so nothing here waits
for real time. (Patching `asyncio.sleep` itself would change it for the event loop, the database
drivers and pytest-asyncio as well.)
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import bot.ratelimit
from bot.ratelimit import TELEGRAM_LIMITS, TELEGRAM_PUBLISHED, UNLIMITED, Limits, RateLimiter


class FakeMonotonic:
    """A monotonic clock that moves only when the limiter sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 100.0  # not 0: a limiter must not rely on the clock starting at zero
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # the real one, still a checkpoint for other tasks


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(bot.ratelimit, "asyncio", SimpleNamespace(sleep=fake.sleep))
    return fake


async def acquire_times(limiter: RateLimiter, clock: FakeMonotonic, *chats: str) -> list[float]:
    """Acquire a slot for each chat in turn; return when each acquire returned."""
    times = []
    for chat in chats:
        await limiter.acquire(chat)
        times.append(clock.now)
    return times


async def test_sends_are_spaced_at_the_total_rate_when_chats_differ(clock: FakeMonotonic) -> None:
    limiter = RateLimiter(Limits(per_second=4.0, per_chat_interval=0.0), clock=clock)

    times = await acquire_times(limiter, clock, "a", "b", "c", "d")

    assert times == [100.0, 100.25, 100.5, 100.75]
    assert clock.sleeps == [0.25, 0.25, 0.25]


async def test_total_rate_does_not_wait_when_slots_have_passed(clock: FakeMonotonic) -> None:
    limiter = RateLimiter(Limits(per_second=4.0, per_chat_interval=0.0), clock=clock)
    await limiter.acquire("a")
    clock.now += 1.0

    times = await acquire_times(limiter, clock, "b")

    assert (times, clock.sleeps) == ([101.0], [])


async def test_a_chat_waits_its_interval_when_it_receives_twice(clock: FakeMonotonic) -> None:
    limiter = RateLimiter(Limits(per_second=float("inf"), per_chat_interval=1.0), clock=clock)

    times = await acquire_times(limiter, clock, "a", "a", "b", "a")

    assert times == [100.0, 101.0, 101.0, 102.0]
    assert clock.sleeps == [1.0, 1.0]


async def test_per_chat_interval_and_total_rate_both_hold_when_combined(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(Limits(per_second=2.0, per_chat_interval=2.0), clock=clock)

    times = await acquire_times(limiter, clock, "a", "b", "a", "c")

    # a at 0; b at the next total slot (0.5); a again after its own 2 s; c after a's slot
    assert times == [100.0, 100.5, 102.0, 102.5]


async def test_pause_delays_the_next_slot_when_the_channel_asks_to_wait(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(TELEGRAM_LIMITS, clock=clock)

    limiter.pause(3.0)
    times = await acquire_times(limiter, clock, "a")

    assert (times, clock.sleeps) == ([103.0], [3.0])


async def test_pause_delays_the_next_slot_when_limits_are_unlimited(clock: FakeMonotonic) -> None:
    limiter = RateLimiter(UNLIMITED, clock=clock)

    limiter.pause(3.0)
    times = await acquire_times(limiter, clock, "a", "b")

    assert (times, clock.sleeps) == ([103.0, 103.0], [3.0])


async def test_pause_keeps_the_longer_wait_when_paused_twice(clock: FakeMonotonic) -> None:
    limiter = RateLimiter(TELEGRAM_LIMITS, clock=clock)

    limiter.pause(5.0)
    limiter.pause(1.0)
    times = await acquire_times(limiter, clock, "a")

    assert times == [105.0]


def test_scaled_limits_are_faster_by_the_factor_when_scaled() -> None:
    assert TELEGRAM_PUBLISHED.scaled(10.0) == Limits(per_second=300.0, per_chat_interval=0.1)


async def test_scaled_limits_space_sends_by_the_scaled_interval_when_used(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(Limits(per_second=1.0, per_chat_interval=4.0).scaled(4.0), clock=clock)

    times = await acquire_times(limiter, clock, "a", "b", "a")

    assert times == [100.0, 100.25, 101.0]


async def test_chat_wait_counts_down_the_chat_interval_when_a_chat_was_served(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(Limits(per_second=float("inf"), per_chat_interval=1.0), clock=clock)
    await limiter.acquire("a")

    waits = [limiter.chat_wait("a"), limiter.chat_wait("b")]
    clock.now += 0.25
    waits.append(limiter.chat_wait("a"))
    clock.now += 5.0
    waits.append(limiter.chat_wait("a"))

    assert waits == [1.0, 0.0, 0.75, 0.0]


async def test_chat_wait_ignores_the_total_rate_when_another_chat_took_the_slot(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(Limits(per_second=1.0, per_chat_interval=0.0), clock=clock)
    await limiter.acquire("a")

    assert limiter.chat_wait("b") == 0.0


async def test_unlimited_never_sleeps_when_many_sends_go_to_one_chat(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(UNLIMITED, clock=clock)

    times = await acquire_times(limiter, clock, *(["a"] * 50 + ["b", "c"] * 25))

    assert (set(times), clock.sleeps) == ({100.0}, [])


class LateOnce(FakeMonotonic):
    """A clock whose first sleep ends `late` seconds after it should (the loop was busy)."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    async def sleep(self, seconds: float) -> None:
        late, self.late = self.late, 0.0
        await super().sleep(seconds + late)


async def test_late_send_pushes_the_next_slot_back_so_sends_never_bunch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # b's slot is at 100.25 but it goes at 100.6; c's planned slot (100.5) has passed by
    # then: it must not follow b at once (both would reach the channel together).
    clock = LateOnce(late=0.35)
    monkeypatch.setattr(bot.ratelimit, "asyncio", SimpleNamespace(sleep=clock.sleep))
    limiter = RateLimiter(Limits(per_second=4.0, per_chat_interval=0.0), clock=clock)
    went: dict[str, float] = {}

    async def send(chat: str) -> None:
        await limiter.acquire(chat)
        went[chat] = clock.now

    await asyncio.gather(*(send(chat) for chat in "abc"))

    assert went["b"] == pytest.approx(100.6)
    assert went["c"] - went["b"] == pytest.approx(0.25 - bot.ratelimit.LATE_SLACK)


async def test_concurrent_acquirers_take_their_slots_in_arrival_order(
    clock: FakeMonotonic,
) -> None:
    limiter = RateLimiter(Limits(per_second=4.0, per_chat_interval=0.0), clock=clock)
    went: list[str] = []

    async def send(chat: str) -> None:
        await limiter.acquire(chat)
        went.append(chat)

    await asyncio.gather(*(send(chat) for chat in "abcd"))

    assert went == ["a", "b", "c", "d"]
    assert clock.now == pytest.approx(100.75)
