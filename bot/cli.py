"""The `zhoubao` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot import logs, messages
from bot.app import App, open_app_from, settle_after_start
from bot.calendar_report import calendar_report
from bot.channels.console import PASTE_INTERVAL, ConsoleChannel, paste_marking
from bot.cli_text import ChineseArgumentParser, positive_int
from bot.config import write_default_config
from bot.drafts import write_draft, written_text
from bot.errors import BotError
from bot.files import PRIVATE_UMASK, safe_name
from bot.outbox import Dispatcher
from bot.runner import Service
from bot.wiring import (
    build_channels,
    channel_limits,
    listen_address,
    web_application,
    web_runner,
)
from handlers import messages as handler_messages
from handlers.framework.binding import codes_of_other_keys, create_invite, format_code
from handlers.services.draft_delivery import issue_line
from handlers.services.status_report import period_of, status_text
from handlers.types import ChannelKind
from report.dates import format_moment, format_period
from report.errors import DraftError
from report.messages import ISSUE_LINE
from report.text_gate import clean_text
from scheduler.jobs import (
    DeadlinePassed,
    IssueNumberTaken,
    NoWorkingDays,
    OpenedIssue,
    next_issue,
    open_week,
    week_to_open,
)
from scheduler.numbering import DerivedNumbers, NumberSource
from scheduler.plan import WeekPlan
from storage.models import Role
from storage.repositories import cursors, issues, outbox, windows

logger = logging.getLogger(__name__)

EXIT_USAGE = 2


class UsageError(BotError):
    """A command was given a value it cannot use; the message says which."""


class ListenFailed(Exception):
    """The web server cannot listen (the port is taken): exit 1, so that systemd retries."""


DEFAULT_CONFIG = Path("zhoubao.toml")
RECENT = timedelta(days=7)  # `zhoubao status` counts the messages sent in this window


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("ZHOUBAO_CONFIG") or DEFAULT_CONFIG)


@contextlib.asynccontextmanager
async def _opened(args: argparse.Namespace) -> AsyncIterator[App]:
    """The app on the command's configuration, closed afterwards."""
    app = await _open(args)
    try:
        yield app
    finally:
        await app.close()


async def _open(args: argparse.Namespace) -> App:
    """Open the app on the configuration; on a fresh checkout, write the default one first.

    Only the implicit ./zhoubao.toml is created: a path the administrator named and mistyped
    must be an error, not a new file.
    """
    path = _config_path(args)
    if path == DEFAULT_CONFIG and not args.config and not path.exists():
        write_default_config(path)
        print(messages.CONFIG_CREATED.format(path=path.resolve()), file=sys.stderr)
    return await open_app_from(path)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(messages.BAD_DATE.format(value=value)) from None


# --- commands ---------------------------------------------------------------------------


async def cmd_init(args: argparse.Namespace) -> None:
    path = _config_path(args)
    backup = write_default_config(path, force=args.force)
    if backup is not None:
        print(messages.INIT_BACKED_UP.format(backup=backup))
    print(messages.INIT_WRITTEN.format(path=path))


async def cmd_run(args: argparse.Namespace) -> None:
    async with _opened(args) as app:
        channels = build_channels(app)
        service = Service(app, channels, limits=channel_limits())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        print(
            messages.RUN_STARTED.format(
                database=app.database.url.render_as_string(hide_password=True),
                zone=app.config.schedule.timezone,
            ),
            flush=True,
        )
        async with app.sessions() as session:
            first = await _first_issue_text(app, session, messages.RUN_FIRST_ISSUE)
        if first is not None:
            print(first, flush=True)
        # The web server always runs: the health checks and metrics are there, and the
        # Telegram webhook in webhook mode.
        site_runner = web_runner(web_application(app, channels, service))
        await site_runner.setup()
        host, port = listen_address(app)
        try:
            await web.TCPSite(site_runner, host, port).start()
        except OSError as error:
            await site_runner.cleanup()
            reason = error.strerror or type(error).__name__
            raise ListenFailed(
                messages.RUN_CANNOT_LISTEN.format(listen=app.config.listen, reason=reason)
            ) from None
        print(messages.RUN_LISTENING.format(listen=app.config.listen), flush=True)
        settle_after_start()
        try:
            await service.run(stop)
        finally:
            await site_runner.cleanup()
        print(messages.RUN_STOPPED, flush=True)


async def cmd_chat(args: argparse.Namespace) -> None:
    async with _opened(args) as app:
        with paste_marking(sys.stdin, sys.stdout, sys.stdout) as terminal:
            # A script piped in is read a line per message; at a terminal, a paste is one.
            interval = PASTE_INTERVAL if terminal else 0.0
            await chat(app, args.name, sys.stdin.readline, paste_interval=interval)


async def chat(
    app: App, name: str, read_line: Callable[[], str], *, paste_interval: float = 0.0
) -> None:
    """Talk to zhoubao as `name` until the input ends."""

    def next_line() -> str | None:
        line = read_line()
        return line if line else None

    channel = ConsoleChannel(
        name,
        read_line=next_line,
        output=sys.stdout,
        documents_dir=app.data_dir / "documents" / safe_name(name),
        clock=app.clock,
        paste_interval=paste_interval,
    )
    await channel.start()
    dispatcher = Dispatcher(app.sessions, {ChannelKind.CONSOLE: channel}, app.clock)
    print(messages.CHAT_WELCOME.format(name=name))
    # A new terminal shows nothing of the last one: say which step the person is at.
    await app.engine.resume(channel.key)
    await dispatcher.drain(ChannelKind.CONSOLE, chat_id=name)

    async def poll() -> None:
        # Messages from others (a prompt, a reminder) arrive while this person types.
        while True:
            await asyncio.sleep(1)
            if await dispatcher.drain(ChannelKind.CONSOLE, chat_id=name):
                channel.show_prompt()

    poller = asyncio.create_task(poll())
    try:
        channel.show_prompt()
        async for update in channel.updates():
            await app.engine.handle(update)
            await dispatcher.drain(ChannelKind.CONSOLE, chat_id=name)
            channel.show_prompt()
    finally:
        poller.cancel()
        # Wait for it: the database must not close under a delivery in progress.
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        print("\n" + messages.CHAT_BYE)


async def cmd_invite(args: argparse.Namespace) -> None:
    async with _opened(args) as app:
        role = Role(args.role)
        async with app.sessions() as session, session.begin():
            window_id = None
            place = handler_messages.HALL
            if args.window:
                window = await windows.find_window(session, args.window)
                if window is None:
                    names = "、".join(w.short_name for w in await windows.active_windows(session))
                    raise UsageError(messages.UNKNOWN_WINDOW.format(name=args.window, names=names))
                window_id, place = window.id, window.name
            elif role == Role.STAFF:
                raise UsageError(messages.WINDOW_REQUIRED)
            ttl = app.settings.invite_ttl
            code = await create_invite(session, app.settings, window_id, role, app.clock())
            foreign = await codes_of_other_keys(session, app.settings, app.clock())
        # Only the code's hash is stored: this is the one time it is shown.
        print(
            messages.INVITE_CREATED.format(
                code=format_code(code),
                place=place,
                role=handler_messages.ROLE_NAMES[role],
                days=ttl.days,
            )
        )
        if foreign:
            print(messages.INVITE_OTHER_KEY.format(count=foreign), file=sys.stderr)


async def cmd_issue_open(args: argparse.Namespace) -> None:
    day = _parse_date(args.date) if args.date else None
    async with _opened(args) as app:
        now = app.clock()
        try:
            plan = week_to_open(app.week, now, day)
        except NoWorkingDays as empty:
            raise UsageError(messages.NO_WORKING_DAYS.format(day=empty)) from None
        except DeadlinePassed as passed:
            if not args.past:
                raise UsageError(_deadline_passed(app, passed.plan)) from None
            plan = passed.plan
        async with app.sessions() as session, session.begin():
            try:
                opened = await open_week(
                    session, app.week, plan, now, number=args.number, total_number=args.total
                )
            except IssueNumberTaken as taken:
                raise UsageError(messages.NUMBER_TAKEN.format(numbers=taken)) from None
        print(_opened_text(app, opened, plan))


def _moment(app: App, moment: datetime) -> str:
    return format_moment(moment.astimezone(app.week.rules.zone))


def _deadline_passed(app: App, plan: WeekPlan) -> str:
    period = format_period(plan.period.start, plan.period.end)
    return messages.DEADLINE_PASSED.format(period=period, deadline=_moment(app, plan.deadline))


def _opened_text(app: App, opened: OpenedIssue, plan: WeekPlan) -> str:
    """What `zhoubao issue open` says: the issue, its deadline, when windows hear of it."""
    issue = opened.issue
    fields = {
        "issue_line": issue_line(issue),
        "period": period_of(issue),
        "deadline": _moment(app, plan.deadline),
        "windows": opened.windows_prompted,
    }
    if not opened.created:
        return messages.ISSUE_EXISTS.format(**fields)
    if plan.deadline <= app.clock():
        text = messages.ISSUE_OPENED_PAST.format(**fields)
    elif opened.prompt_at is not None:
        text = messages.ISSUE_OPENED_AHEAD.format(
            **fields, prompt_at=_moment(app, opened.prompt_at)
        )
    else:
        text = messages.ISSUE_OPENED.format(**fields)
    note = _numbers_note(opened.numbers)
    return f"{text}\n{note}" if note else text


def _numbers_note(numbers: DerivedNumbers | None) -> str | None:
    """How a first issue's numbers were derived, when the administrator may not expect them."""
    if numbers is None:
        return None
    if numbers.source == NumberSource.FIRST:
        return messages.NUMBERS_FIRST.format(year=numbers.year)
    if numbers.source == NumberSource.CONFIGURED_OTHER_YEAR and numbers.defaults is not None:
        conf = numbers.defaults
        return messages.NUMBERS_OTHER_YEAR.format(
            conf_year=conf.year,
            conf_number=conf.next_number,
            conf_total=conf.next_total,
            year=numbers.year,
            total=numbers.total,
        )
    return None


async def _first_issue_text(app: App, session: AsyncSession, template: str) -> str | None:
    """The first issue, when and how it will open, before any issue exists (else None)."""
    if await issues.last_issue(session) is not None:
        return None
    upcoming = await next_issue(session, app.week, app.clock())
    if upcoming is None:
        return messages.NO_ISSUE_NO_WEEK
    numbers, plan = upcoming.numbers, upcoming.plan
    text = template.format(
        issue_line=ISSUE_LINE.format(year=numbers.year, number=numbers.number, total=numbers.total),
        period=format_period(plan.period.start, plan.period.end),
        prompting=(
            messages.PROMPT_AT.format(moment=_moment(app, plan.open_at))
            if plan.open_at > app.clock()
            else messages.PROMPT_AT_ONCE
        ),
        deadline=_moment(app, plan.deadline),
    )
    note = _numbers_note(numbers)
    return f"{text}\n{note}" if note else text


async def cmd_issue_number(args: argparse.Namespace) -> None:
    async with _opened(args) as app, app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        if issue is None:
            raise UsageError(messages.NO_ISSUE)
        number = args.number or issue.number
        total = args.total or issue.total_number
        if await issues.numbers_taken(session, issue.year, number, total, excluding=issue.id):
            raise UsageError(messages.NUMBER_TAKEN.format(numbers=f"{issue.year}-{number}/{total}"))
        issue.number, issue.total_number = number, total
        print(messages.ISSUE_RENUMBERED.format(issue_line=issue_line(issue)))


async def cmd_draft(args: argparse.Namespace) -> None:
    issue_date = _parse_date(args.issue_date) if args.issue_date else None
    async with _opened(args) as app:
        out_dir = Path(args.out) if args.out else app.data_dir / "drafts"
        result = await write_draft(app, out_dir, issue_date)
        print(written_text(result))
        silent = "、".join(result.compiled.silent_windows) or messages.NONE
        print(messages.SILENT_WINDOWS.format(names=silent))


async def cmd_status(args: argparse.Namespace) -> None:
    async with _opened(args) as app:
        async with app.sessions() as session:
            issue = await issues.current_issue(session)
            if issue is None:
                print(await _first_issue_text(app, session, messages.NO_ISSUE_YET))
            else:
                print(await status_text(session, issue, app.week.rules.zone))
            counts = await outbox.recent_counts(session, app.clock() - RECENT)
            failed_rows = await outbox.failed_messages(session, limit=10)
            channel_states = await cursors.states(session)
        print(
            messages.STATUS_OUTBOX.format(
                queued=counts.get("queued", 0),
                sent=counts.get("sent", 0),
                failed=counts.get("failed", 0),
            )
        )
        now = app.clock()
        for state in channel_states:
            age = now - state.updated_at
            print(
                messages.STATUS_CHANNEL.format(
                    channel=state.channel,
                    status=messages.CHANNEL_STATES.get(state.status, state.status),
                    when=state.updated_at.astimezone(app.week.rules.zone).strftime("%m-%d %H:%M"),
                    stale=messages.STATUS_STALE if age > timedelta(minutes=1) else "",
                )
            )
        for row in failed_rows:
            print(
                messages.STATUS_FAILED_ROW.format(
                    when=row.created_at.astimezone(app.week.rules.zone).strftime("%m-%d %H:%M"),
                    channel=row.channel,
                    chat=row.chat_id,
                    error=(row.last_error or "").splitlines()[0][:200] if row.last_error else "",
                )
            )


async def cmd_calendar(args: argparse.Namespace) -> None:
    async with _opened(args) as app:
        year = app.clock().date().year if args.year is None else args.year
        if not 1900 <= year <= 9998:
            raise UsageError(messages.BAD_YEAR.format(value=year))
        print(calendar_report(app.calendar, year))


async def cmd_demo(args: argparse.Namespace) -> None:
    from bot.demo import run_demo  # the demo's script is only loaded when asked for

    await run_demo(Path(args.dir) if args.dir else None, verbose=not args.quiet)


# --- parser -----------------------------------------------------------------------------

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, None]]


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseArgumentParser(prog="zhoubao", description=messages.CLI_DESCRIPTION)
    parser.add_argument("--config", metavar="文件", help=messages.CONFIG_HELP)
    commands = parser.add_subparsers(dest="command", metavar="命令", required=True)

    def add(
        name: str, help_text: str, example: str, func: Command, parent: Any = commands
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text, epilog=f"例：{example}"
        )
        sub.set_defaults(func=func)
        return sub

    init = add("init", "生成一份带注释的默认配置文件。", "zhoubao init", cmd_init)
    init.add_argument("--force", action="store_true", help=messages.INIT_FORCE_HELP)
    add(
        "run",
        "启动服务：按工作日历自动开启每期、催报、截止并把草稿发给编辑。",
        "zhoubao run",
        cmd_run,
    )

    chat_cmd = add(
        "chat",
        "在终端里以某人的身份与机器人对话（控制台渠道）。",
        "zhoubao chat --as 商务厅小王",
        cmd_chat,
    )
    chat_cmd.add_argument(
        "--as", dest="name", metavar="名字", required=True, help="对话者的名字，作为其身份"
    )

    invite = add(
        "invite",
        "生成一次性邀请码，用于绑定窗口人员、编辑或巡查人员。",
        "zhoubao invite --window 商务厅 --role staff",
        cmd_invite,
    )
    invite.add_argument("--window", metavar="窗口", help="窗口名称或简称（报送人员必填）")
    invite.add_argument(
        "--role",
        default="staff",
        choices=[r.value for r in Role],
        help="角色：staff 报送人员、editor 编辑、inspector 巡查人员、admin 管理员",
    )

    issue = commands.add_parser(
        "issue",
        help="管理周报期次。",
        description="管理周报期次。",
        epilog="例：zhoubao issue open --date 2022-09-14",
    )
    issue_commands = issue.add_subparsers(dest="issue_command", metavar="子命令", required=True)
    open_cmd = add(
        "open",
        "开启截止时间未到的一期（或 --date 那一周），到开启时间通知各窗口报送。",
        "zhoubao issue open",
        cmd_issue_open,
        issue_commands,
    )
    open_cmd.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="该周内任一天，YYYY-MM-DD（默认：截止时间未到的最近一周）",
    )
    open_cmd.add_argument(
        "--past",
        action="store_true",
        help="补开截止时间已过的一周：不通知窗口，随即截止并汇编草稿",
    )
    open_cmd.add_argument(
        "--number", type=positive_int, metavar="期号", help="本年期号（默认自动顺延）"
    )
    open_cmd.add_argument(
        "--total", type=positive_int, metavar="总期号", help="总期号（默认自动顺延）"
    )
    number_cmd = add(
        "number",
        "修改当前一期的本年期号或总期号（以后各期据此顺延）。",
        "zhoubao issue number --number 31 --total 406",
        cmd_issue_number,
        issue_commands,
    )
    number_cmd.add_argument("--number", type=positive_int, metavar="期号", help="本年期号")
    number_cmd.add_argument("--total", type=positive_int, metavar="总期号", help="总期号")

    draft = add(
        "draft",
        "把当前一期汇编成周报草稿（Word 和 Markdown）。",
        "zhoubao draft --issue-date 2022-10-21",
        cmd_draft,
    )
    draft.add_argument(
        "--issue-date", metavar="YYYY-MM-DD", help="印发日期，YYYY-MM-DD（默认今天）"
    )
    draft.add_argument("--out", metavar="目录", help="输出目录（默认：数据目录下的 drafts）")

    add("status", "查看当前一期各窗口的报送情况和待发消息。", "zhoubao status", cmd_status)

    calendar_cmd = add(
        "calendar",
        "列出某年的工作日安排：每月工作日数、节假日和调休上班日及其来源。",
        "zhoubao calendar --year 2027",
        cmd_calendar,
    )
    calendar_cmd.add_argument("--year", type=int, metavar="年份", help="年份（默认今年）")

    demo = add(
        "demo", "在临时目录中自动演示一周的报送与汇编，并给出草稿路径。", "zhoubao demo", cmd_demo
    )
    demo.add_argument("--dir", metavar="目录", help="演示用的数据目录（默认新建临时目录）")
    demo.add_argument("--quiet", action="store_true", help="不显示对话过程")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Everything zhoubao writes (data folder, database, drafts, documents) is the service's
    # alone; put back afterwards for a caller that runs main() inside itself.
    previous_umask = os.umask(PRIVATE_UMASK)
    try:
        with logs.configured():
            return _main(argv)
    finally:
        os.umask(previous_umask)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in vars(args).items():  # what the administrator typed, like any text in
        if isinstance(value, str):
            setattr(args, name, clean_text(value))
    try:
        asyncio.run(args.func(args))
    except BotError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    except ListenFailed as error:
        print(str(error), file=sys.stderr)
        return 1
    except DraftError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    except BrokenPipeError:  # the output was piped into `head` or similar: nothing to say
        return 0
    except KeyboardInterrupt:
        print(messages.INTERRUPTED, file=sys.stderr)
        return 130
    except Exception as error:  # the edge of the program: a short message, never a traceback
        logger.debug("command failed", exc_info=True)
        # The message may quote a secret (a token in a URL) or a driver's value: as in the log.
        detail = logs.redact(f"{type(error).__name__}: {error}")
        print(messages.INTERNAL_ERROR.format(error=detail), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
