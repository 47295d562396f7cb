"""The peer of the conversation-turn benchmark: python-telegram-bot's own dispatch of intake.

A 3-step `ConversationHandler` (persistent, name "intake") mirrors zhoubao's intake: choose a
subsection ("1"), send the text (~80 Chinese characters), confirm ("确认"): the item is
appended to `context.chat_data["items"]` and "已提交" is sent. Every step awaits
`update.message.reply_text`. `/start` opens the conversation for every chat first; that entry
turn is not measured. The measured turns are the three steps: 3 per chat.

Setup, as a production bot with many users would be configured:
- `PicklePersistence(filepath=...)` with its defaults (single file, update_interval 60 s,
  on_flush=False: every changed chat/user/conversation entry rewrites the whole file), and the
  application started (`initialize()`, `start()`, no polling) so that its periodic flush runs
  as in production. `shutdown()` runs the last `update_persistence()` and `flush()`: it is
  timed on its own (`final_flush_ms`); `stop()` does not flush.
- `concurrent_updates(True)` (256 updates at once), so that distinct chats proceed
  concurrently. `process_update`, which this benchmark calls directly, bypasses the update
  processor that setting configures, so the same bound is applied here: at most `concurrency`
  (256) `process_update` calls in flight. Step k runs for all chats before step k+1 starts, so
  two updates of one chat are never in flight together.

Updates are built with `Update.de_json` before the clock starts: the turns measure dispatch,
handlers, persistence bookkeeping and the outgoing call, not JSON decoding.

Two measurements: with `base_url` the bot talks to the loopback Bot API server of the tests
over HTTP with the library's default client; with `base_url=None` the **network is stubbed**:
`StubRequest.do_request` answers getMe and sendMessage in-process, without any I/O. Stubbed,
no turn ever yields, so the turns run one after another whatever `concurrency` is, and the
loop block is a whole step's ready tasks run in one loop iteration (about chats × one turn).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)
from telegram.request import BaseRequest, RequestData

from benchmarks.framework import percentile
from tests.bot.channels.telegram_server import BOT_USER, TOKEN

if TYPE_CHECKING:
    from benchmarks.fanout import ServerReport

SUBSECTION, TEXT, PREVIEW = range(3)
FIRST_CHAT_ID: Final = 800_000_001
STEP_TEXTS: Final = (
    "1",
    "本周窗口共受理不动产登记业务三百二十件，较上周增长百分之十二，"
    "其中抵押登记占比过半；窗口推行预约办理和容缺受理，群众平均等候时间缩短至十五分钟以内，好评率达百分之九十九。",
    "确认",
)


@dataclass(frozen=True)
class TurnStats:
    turns: int
    seconds: float  # wall time from the first measured update fed to the last one finished
    latencies_ms: list[float]  # per turn: handed to process_update → its handler finished
    worst_loop_block_ms: float  # longest event-loop stall seen by a 1 ms ticker, during the turns
    final_flush_ms: float | None = None  # PTB: shutdown(), its last persistence flush

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 0.5)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    @property
    def worst_ms(self) -> float:
        return max(self.latencies_ms)


class StubRequest(BaseRequest):
    """The network stubbed: getMe and sendMessage answered in-process, without any I/O."""

    def __init__(self) -> None:
        self.message_ids = itertools.count(1)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        result: object
        if api_method == "getMe":
            result = BOT_USER
        elif api_method == "sendMessage":
            result = {
                "message_id": next(self.message_ids),
                "date": int(time.time()),
                "chat": {"id": int(str(params["chat_id"])), "type": "private"},
                "from": BOT_USER,
                "text": params["text"],
            }
        else:
            return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'
        return 200, json.dumps({"ok": True, "result": result}).encode()


# --- The conversation. ----------------------------------------------------------------------


@dataclass
class Tally:
    """What the handlers saw, kept out of the application's (persisted) data."""

    replies: Counter[int] = field(default_factory=Counter)  # answered sendMessage per chat
    errors: list[str] = field(default_factory=list)


def intake(tally: Tally) -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    """/start, then subsection → text → confirm; the item is appended to chat_data["items"]."""

    async def reply(update: Update, text: str) -> None:
        assert update.message is not None
        sent = await update.message.reply_text(text)
        tally.replies[sent.chat_id] += 1  # once the Bot API answered with the message

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await reply(update, "请选择栏目：1 业务动态 2 工作亮点 3 问题建议")
        return SUBSECTION

    async def subsection(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.chat_data is not None
        context.chat_data["subsection"] = update.message.text
        await reply(update, "请发送本栏目的内容（一段文字）。")
        return TEXT

    async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.chat_data is not None
        context.chat_data["text"] = update.message.text
        await reply(update, f"预览：\n{update.message.text}\n回复“确认”提交。")
        return PREVIEW

    async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert context.chat_data is not None
        data = context.chat_data
        item = {"subsection": data.pop("subsection"), "text": data.pop("text")}
        data.setdefault("items", []).append(item)
        await reply(update, "已提交")
        return ConversationHandler.END

    return ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={
            SUBSECTION: [MessageHandler(filters.Regex(r"^\d+$"), subsection)],
            TEXT: [MessageHandler(filters.TEXT & ~filters.COMMAND, text)],
            PREVIEW: [MessageHandler(filters.Regex("^确认$"), confirm)],
        },
        fallbacks=[],
        persistent=True,
        name="intake",
    )


# --- The run. ---------------------------------------------------------------------------------


def message_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": f"staff {chat_id}"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


class LoopTicker:
    """Sleeps 1 ms in a loop; the longest gap beyond that is the worst event-loop block."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> float:
        """Stop ticking; return the worst block in ms."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.worst_s * 1000

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst_s = max(self.worst_s, time.perf_counter() - before - 0.001)


async def ptb_turns(
    chats: int, *, base_url: str | None, persistence_file: Path, concurrency: int = 256
) -> TurnStats:
    """Run /start, then the three intake steps for `chats` chats; measure the three steps.

    `base_url`: the loopback Bot API server's origin ("http://127.0.0.1:PORT"), which must
    accept TOKEN; None: the network stubbed in-process.
    """
    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .persistence(PicklePersistence(filepath=persistence_file))
        .concurrent_updates(True)
        .updater(None)  # updates are fed to process_update; nothing polls
    )
    if base_url is None:
        builder = builder.request(StubRequest())
    else:
        builder = builder.base_url(f"{base_url}/bot").base_file_url(f"{base_url}/file/bot")
    application = builder.build()
    tally = Tally()

    async def record_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        tally.errors.append(repr(context.error))

    application.add_handler(intake(tally))
    application.add_error_handler(record_error)
    chat_ids = [FIRST_CHAT_ID + i for i in range(chats)]
    update_ids = itertools.count(1)
    steps = [
        [
            Update.de_json(message_update(next(update_ids), chat_id, text), application.bot)
            for chat_id in chat_ids
        ]
        for text in ("/start", *STEP_TEXTS)
    ]
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def turn(update: Update, measured: bool) -> None:
        async with semaphore:
            handed = time.perf_counter()
            await application.process_update(update)
            if measured:
                latencies.append((time.perf_counter() - handed) * 1000)

    async def run_step(updates: list[Update], measured: bool) -> None:
        await asyncio.gather(*(turn(update, measured) for update in updates))

    ticker = LoopTicker()
    await application.initialize()
    await application.start()
    try:
        await run_step(steps[0], measured=False)  # the entry turn: not measured
        ticker.start()
        started = time.perf_counter()
        for updates in steps[1:]:
            await run_step(updates, measured=True)
        seconds = time.perf_counter() - started
        worst_block_ms = await ticker.stop()
    finally:
        await ticker.stop()
        if application.running:
            await application.stop()
        flush_started = time.perf_counter()
        await application.shutdown()
        final_flush_ms = (time.perf_counter() - flush_started) * 1000
    await _check(application, tally, chat_ids, persistence_file)
    return TurnStats(len(latencies), seconds, latencies, worst_block_ms, final_flush_ms)


async def _check(
    application: Application[Any, Any, Any, Any, Any, Any],
    tally: Tally,
    chat_ids: list[int],
    persistence_file: Path,
) -> None:
    """RuntimeError unless every turn got its reply and every chat stored exactly one item,
    in memory and in the flushed pickle file."""
    if tally.errors:
        raise RuntimeError(f"{len(tally.errors)} handler errors, first: {tally.errors[0]}")
    expected = 1 + len(STEP_TEXTS)
    wrong = [chat_id for chat_id in chat_ids if tally.replies[chat_id] != expected]
    if wrong:
        raise RuntimeError(f"{len(wrong)} chats did not get {expected} replies, e.g. {wrong[0]}")
    flushed = await PicklePersistence(filepath=persistence_file).get_chat_data()
    for where, data in (("memory", application.chat_data), ("the pickle file", flushed)):
        wrong = [c for c in chat_ids if len(data.get(c, {}).get("items", [])) != 1]
        if wrong:
            raise RuntimeError(f"{len(wrong)} chats without exactly one item in {where}")


def check_server_sends(report: ServerReport, chat_ids: list[int]) -> None:
    """RuntimeError unless the server answered every chat's 4 sendMessage calls with 200."""
    ok = Counter(send.chat_id for send in report.sends if send.status == 200)
    expected = 1 + len(STEP_TEXTS)
    wrong = [c for c in chat_ids if ok[str(c)] != expected]
    if wrong or len(report.sends) != expected * len(chat_ids) or report.flood_429s:
        raise RuntimeError(
            f"server: {len(report.sends)} sends for {len(chat_ids)} chats, "
            f"{len(wrong)} chats without {expected} answered sends, {report.flood_429s} 429s"
        )


# The fan-out helper has no "no limits" setting: limits this high are never reached.
NO_LIMITS: Final = (1e9, 0.0)


async def ptb_turns_over_loopback(chats: int, persistence_file: Path) -> TurnStats:
    """`ptb_turns` against the loopback Bot API server, run in a process of its own."""
    # Imported here: the stubbed run needs none of zhoubao's application code.
    from benchmarks.fanout import ServerReport, telegram_server_process

    report = ServerReport()
    async with telegram_server_process(NO_LIMITS, 1.0, report) as address:
        origin = address.base_url.removesuffix("/bot")
        stats = await ptb_turns(chats, base_url=origin, persistence_file=persistence_file)
    check_server_sends(report, [FIRST_CHAT_ID + i for i in range(chats)])
    return stats


# --- A run from the command line: python -m benchmarks.ptb_turns ----------------------------


def _show(label: str, stats: TurnStats) -> None:
    print(
        f"{label:<24} {stats.turns:>5} turns {stats.turns_per_second:>7,.0f} turns/s  "
        f"p50 {stats.p50_ms:6.2f} ms  p99 {stats.p99_ms:7.2f} ms  "
        f"worst {stats.worst_ms:7.2f} ms  loop block {stats.worst_loop_block_ms:7.2f} ms  "
        f"final flush {stats.final_flush_ms:8.1f} ms"
    )


def main() -> None:
    for chats in (2000, 200):
        with tempfile.TemporaryDirectory() as directory:
            stubbed = asyncio.run(
                ptb_turns(chats, base_url=None, persistence_file=Path(directory) / "stub.pickle")
            )
            _show(f"{chats} chats, stubbed", stubbed)
            served = asyncio.run(ptb_turns_over_loopback(chats, Path(directory) / "server.pickle"))
            _show(f"{chats} chats, loopback", served)


if __name__ == "__main__":
    main()
