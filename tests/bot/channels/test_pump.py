"""Pumping a channel's update batches: chats at once, each chat in order, nothing skipped.

The channel here is a fake that only hands out batches: what is under test is the pump's
handling of them, not a network.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from bot.channels.pump import pump_updates
from handlers.types import ChannelKind, ChatKey, Incoming, Outgoing


def _update(chat: str, n: int) -> Incoming:
    return Incoming(ChatKey(ChannelKind.CONSOLE, chat, chat), f"{chat}{n}", datetime.now(UTC), "x")


class BatchChannel:
    kind = ChannelKind.CONSOLE

    def __init__(self, batches: list[list[Incoming]]) -> None:
        self.batches = batches
        self.asked = 0  # how many batches were asked for: each ask confirms the one before

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, to: ChatKey, message: Outgoing) -> None:
        return None

    async def updates(self) -> AsyncIterator[Incoming]:
        raise AssertionError("a batching channel is read by batches")
        yield  # pragma: no cover

    async def update_batches(self) -> AsyncIterator[Sequence[Incoming]]:
        for batch in self.batches:
            self.asked += 1
            yield batch
        self.asked += 1
        await asyncio.Event().wait()  # no more updates: wait like a long poll


async def test_batch_handled_chats_at_once_and_each_chat_in_order_when_one_fails() -> None:
    a1, b1, a2 = _update("a", 1), _update("b", 1), _update("a", 2)
    later = _update("b", 2)
    channel = BatchChannel([[a1, b1, a2], [later]])
    handled: list[str] = []
    confirmed_when: dict[str, int] = {}
    failed_once: set[str] = set()
    b1_started = asyncio.Event()
    done = asyncio.Event()

    async def handle(incoming: Incoming) -> None:
        if incoming is b1:
            b1_started.set()
        if incoming is a1 and "a1" not in failed_once:
            failed_once.add("a1")
            await b1_started.wait()  # b1 runs while a1 is still being handled
            raise RuntimeError("database briefly down")
        handled.append(incoming.update_id)
        confirmed_when[incoming.update_id] = channel.asked
        if incoming is later:
            done.set()

    stop = asyncio.Event()
    pump = asyncio.create_task(pump_updates(channel, handle, stop, retry_delay=0.01))
    await asyncio.wait_for(done.wait(), 2)
    stop.set()
    await asyncio.wait_for(pump, 2)

    assert handled.index("a1") < handled.index("a2")  # the retry kept chat a's order
    assert handled[0] == "b1"  # chat b did not wait for chat a's retry
    # The second batch was asked for (the first confirmed) only once all three were handled.
    assert {u: confirmed_when[u] for u in ("a1", "b1", "a2")} == {"a1": 1, "b1": 1, "a2": 1}
    assert confirmed_when["b2"] == 2
