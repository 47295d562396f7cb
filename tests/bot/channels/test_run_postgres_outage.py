"""PostgreSQL restarts mid-week under a real `zhoubao run` serving Telegram.

The test starts a PostgreSQL server of its own (tests/postgres_server.py), so that it can stop
it while `zhoubao run` is talking to a window on the loopback Bot API. While the database is
down, the window goes on typing; nothing may be lost: the item confirmed before the outage is
kept, the updates sent during it stay unconfirmed at the Bot API (the offset is not advanced)
and are handled once the server is back, and the service says so in one line each way.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import pytest

from handlers import messages
from tests.bot.channels.telegram_server import TelegramServer
from tests.bot.channels.test_run_telegram import _config, _wait_for, _zhoubao
from tests.postgres_server import OwnPostgres, postgres_bin

CHAT = 6001
FIRST = "本周窗口办结业务4082件，群众满意率100%。"
SECOND = "推行“一窗通办”，压缩办理时限30%。"

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries")


async def _stored_items(url: str) -> list[str]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await connection.fetch(
            "SELECT text FROM items WHERE status = 'confirmed' ORDER BY id"
        )
    finally:
        await connection.close()
    return [row["text"] for row in rows]


def _with_database(config: Path, url: str) -> None:
    text = config.read_text("utf-8")
    config.write_text(text.replace('[storage]\ndata_dir = "data"', f'[storage]\nurl = "{url}"'))


async def test_items_survive_and_updates_wait_when_postgres_restarts_under_zhoubao_run(
    tmp_path: Path, telegram_server: TelegramServer
) -> None:
    with OwnPostgres() as postgres:
        config = _config(tmp_path, telegram_server)
        _with_database(config, postgres.url)
        for command in (("invite", "--window", "商务厅", "--role", "staff"), ("issue", "open")):
            process = await _zhoubao(config, *command)
            out, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            if command[0] == "invite":
                code = out.decode().split("\n")[0].split("：")[1]

        run = await _zhoubao(config, "run", ZHOUBAO_TELEGRAM_TOKEN=telegram_server.token)
        try:

            async def say(text: str, replies: int) -> None:
                telegram_server.inject_message(CHAT, CHAT, text)
                await _wait_for(lambda: len(telegram_server.sent_to(CHAT)) >= replies, 60)

            seen = 0

            async def step(text: str, new_replies: int) -> None:
                nonlocal seen
                seen += new_replies
                await say(text, seen)

            await step(f"/start {code}", 2)  # bound + menu
            await step("1", 1)  # 提交动态 → which subsection
            await step("1", 1)  # the first subsection → send the text
            await step(FIRST, 1)  # preview
            await step("1", 1)  # confirm → 已提交 … add more?
            assert await _stored_items(postgres.url) == [FIRST]

            await asyncio.to_thread(postgres.stop)
            for text in ("1", "1", SECOND):  # 再报一条, the subsection, the text
                telegram_server.inject_message(CHAT, CHAT, text)
            await asyncio.sleep(3)  # the pump retries; nothing is confirmed meanwhile
            assert len(telegram_server.pending) == 3
            assert len(telegram_server.sent_to(CHAT)) == seen
            await asyncio.to_thread(postgres.start)

            # Handled in order once the server is back: the preview of the second item.
            await _wait_for(lambda: len(telegram_server.sent_to(CHAT)) >= seen + 3, 90)
            seen += 3
            preview = telegram_server.sent_to(CHAT)[-1].params["text"]
            assert SECOND.rstrip("。") in preview
            await step("1", 1)  # confirm
            assert await _stored_items(postgres.url) == [FIRST, SECOND]
            await _wait_for(lambda: not telegram_server.pending, 30)
        finally:
            run.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(run.communicate(), 60)
    log = err.decode()
    assert run.returncode == 0, log
    assert log.count("database unreachable; retrying until it is back") == 1, log
    assert log.count("database reachable again") == 1, log
    assert "Traceback" not in log, log
    assert messages.submitted(1) in [c.params["text"] for c in telegram_server.sent_to(CHAT)]
