"""A noisy chat: one chat with 5,000 queued messages must not hold 1,000 others back.

The outbox holds 5,000 messages to one chat (queued first: the oldest) and then one message to
each of 1,000 other chats. The dispatcher sends them through the real Telegram channel to the
loopback Bot API server (150 ms round trip; 30 sends a second, one a second per chat, 429s
beyond). The noisy chat can take one send a second, so the others can have the other 29:
target, every other chat's message delivered within 1,000 ÷ 30 s + 5 % of the first send.
The run stops at `CAP` seconds (the noisy chat alone needs 5,000 s) and counts what the others
got by the target and by the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from benchmarks.fanout import (
    TG,
    ServerReport,
    open_bench_app,
    queued_count,
    telegram_server_process,
)
from benchmarks.framework import Benchmark, Context, Row
from bot.channels.telegram import TelegramChannel
from bot.outbox import Dispatcher
from bot.ratelimit import TELEGRAM_LIMITS, TELEGRAM_PUBLISHED
from storage.repositories import outbox
from tests.bot.channels.telegram_server import BENCH_ROUND_TRIP

NAME: Final = "noisy"
FULL: Final = (5000, 1000, 120.0)  # noisy chat's messages, other chats, cap in s
QUICK: Final = (200, 20, 8.0)
NOISY_CHAT: Final = "800000000"
FIRST_OTHER: Final = 800_000_001
TARGET_OVERHEAD: Final = 0.05


@dataclass(frozen=True, slots=True)
class NoisyResult:
    noisy: int
    others: int
    round_trip: float
    cap_s: float
    bound_s: float  # others ÷ 30
    others_at: list[float]  # s from the first send to each other chat's 200 OK
    noisy_sent: int
    flood_429s: int

    @property
    def target_s(self) -> float:
        return self.bound_s * (1 + TARGET_OVERHEAD)

    @property
    def within_target(self) -> int:
        return sum(1 for at in self.others_at if at <= self.target_s)

    @property
    def met(self) -> bool:
        return self.within_target == self.others


async def noisy_run(
    db_url: str, workdir: Path, noisy: int, others: int, cap: float, round_trip: float
) -> NoisyResult:
    app = await open_bench_app(db_url, workdir)
    clock = app.clock
    try:
        now = clock()
        rows = [
            outbox.queued_row(
                channel=TG.value,
                chat_id=NOISY_CHAT,
                user_id=NOISY_CHAT,
                payload={"text": f"第{i + 1}条"},
                now=now,
            )
            for i in range(noisy)
        ] + [
            outbox.queued_row(
                channel=TG.value,
                chat_id=str(FIRST_OTHER + i),
                user_id=str(FIRST_OTHER + i),
                payload={"text": "本周工作动态请报送"},
                now=now,
            )
            for i in range(others)
        ]
        async with app.sessions() as session, session.begin():
            await outbox.enqueue_many(session, rows)
        limits = (TELEGRAM_PUBLISHED.per_second, TELEGRAM_PUBLISHED.per_chat_interval)
        server = ServerReport()
        async with telegram_server_process(limits, 1.0, server, round_trip) as address:
            channel = TelegramChannel(
                address.token,
                sessions=app.sessions,
                clock=clock,
                base_url=address.base_url,
                base_file_url=address.base_file_url,
            )
            await channel.start()
            try:
                dispatcher = Dispatcher(
                    app.sessions, {TG: channel}, clock, limits={TG: TELEGRAM_LIMITS}
                )

                async def drain_until_empty() -> None:
                    while True:
                        await dispatcher.drain(TG)
                        if not await queued_count(app):
                            return
                        await asyncio.sleep(0.02)  # deferred by a 429: due again soon

                task = asyncio.create_task(drain_until_empty())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), cap)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            finally:
                await channel.stop()
    finally:
        await app.close()
    delivered = [send for send in server.sends if send.status == 200]
    first = min((send.received_at for send in server.sends), default=0.0)
    others_at = sorted(send.answered_at - first for send in delivered if send.chat_id != NOISY_CHAT)
    return NoisyResult(
        noisy=noisy,
        others=others,
        round_trip=round_trip,
        cap_s=cap,
        bound_s=others / TELEGRAM_PUBLISHED.per_second,
        others_at=others_at,
        noisy_sent=sum(1 for send in delivered if send.chat_id == NOISY_CHAT),
        flood_429s=server.flood_429s,
    )


def rows_of(result: NoisyResult) -> list[Row]:
    case = (
        f"SQLite: 1 chat × {result.noisy:,} queued first, then {result.others:,} chats × 1, "
        f"round trip {result.round_trip * 1000:g} ms"
    )
    last = result.others_at[-1] if len(result.others_at) == result.others else float("nan")
    return [
        Row(NAME, case, "other chats delivered within the target", result.within_target, "chats",
            "other chats", result.others, f"all, by {result.target_s:.1f} s", result.met),
        Row(NAME, case, "other chats delivered before the run stopped", len(result.others_at),
            "chats", "run stopped at, s", result.cap_s),
        Row(NAME, case, "last other chat delivered", last, "s", "bound (others ÷ 30), s",
            result.bound_s),
        Row(NAME, case, "noisy chat's messages sent meanwhile", result.noisy_sent, "msgs"),
        Row(NAME, case, "429 received", result.flood_429s, "count", None, None, "0",
            result.flood_429s == 0),
    ]  # fmt: skip


def note_of(result: NoisyResult) -> str:
    return (
        f"{NAME}: {len(result.others_at)} of {result.others:,} other chats delivered before the "
        f"run stopped at {result.cap_s:g} s ({result.within_target} within the target of "
        f"{result.target_s:.1f} s), while the noisy chat got {result.noisy_sent} of its "
        f"{result.noisy:,}; {result.flood_429s} × 429. The last column is empty when some other "
        "chat was still waiting at the stop."
    )


def run(context: Context, sizes: tuple[int, int, float]) -> list[Row]:
    noisy, others, cap = sizes
    with tempfile.TemporaryDirectory(prefix="zb-noisy-") as tmp:
        workdir = Path(tmp) / "sqlite"
        url = f"sqlite+aiosqlite:///{workdir / 'zhoubao.sqlite3'}"
        result = asyncio.run(noisy_run(url, workdir, noisy, others, cap, BENCH_ROUND_TRIP))
    context.note(note_of(result))
    return rows_of(result)


def run_quick(context: Context) -> list[Row]:
    return run(context, QUICK)


def run_full(context: Context) -> list[Row]:
    return run(context, FULL)


BENCHMARK: Final = Benchmark(NAME, run_quick, run_full)
