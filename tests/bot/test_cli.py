"""The `zhoubao` command line: help for every command, and each command's answers and exit codes.

Commands run in-process through `bot.cli.main` (fast, output captured with capsys) on a default
configuration written under `tmp_path`, so the SQLite database lives in `tmp_path/data`. Only
`zhoubao --help` starts a real process, to check the installed entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot import messages
from bot.app import open_app_from
from bot.cli import build_parser, main
from bot.config import default_config_text, load_config, write_default_config
from bot.errors import ConfigError
from bot.typeset import find_office
from handlers import messages as handler_messages
from handlers.framework.binding import create_invite
from report import messages as report_messages
from storage.models import Role
from tests.bot.cli_run import Run, zhoubao
from tests.fakes import Person, RecordingChannel, invite_code, write_reference_config

# Issue 2022-31 of the reference bulletin: the default [numbering] and the week of 2022-09-14.
REFERENCE_DAY = "2022-09-14"
REFERENCE_ISSUE_LINE = "2022年第31期（总第406期）"
REFERENCE_PERIOD = "（9月13日—9月16日）"
REFERENCE_DEADLINE = "9月16日（周五）12:00"
# The commands run in-process read the system clock (SystemClock): each test pins it, ticking,
# to the reference issue's Wednesday, so that it sees the same week whatever day it runs on.
# The commands run as processes (--help) keep the real clock; .ci/any-day sets that.
REFERENCE_NOW = datetime(2022, 9, 14, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
# The reference issue's year-to-date figures, in the order the editor is asked for them.
REFERENCE_FIGURES = ("617058", "611244", "19691982", "7463962", "49602", "50398")
ITEM_TEXT = "商务厅窗口推广电子营业执照在商务政务服务领域的应用，企业办事无需另行提交纸质营业执照。"
# What the designed command tree holds (docs: conventions §5).
COMMANDS = (
    "init", "run", "chat", "invite", "issue", "issue open", "issue number", "draft", "status",
    "demo", "calendar",
)  # fmt: skip


@pytest.fixture(autouse=True)
def reference_wednesday() -> Iterator[None]:
    """The commands read the system clock: put it in the reference week, whatever today is."""
    with time_machine.travel(REFERENCE_NOW, tick=True):
        yield


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "zhoubao.toml"
    write_reference_config(path)
    return path


def window_names(config: Path) -> list[str]:
    return [window.name for window in load_config(config).windows_in_order()]


def short_names(config: Path) -> list[str]:
    return [window.short_name for window in load_config(config).windows_in_order()]


def issue_opened(windows: int) -> str:
    return messages.ISSUE_OPENED.format(
        issue_line=REFERENCE_ISSUE_LINE,
        period=REFERENCE_PERIOD,
        deadline=REFERENCE_DEADLINE,
        windows=windows,
    )


async def _bind_and_submit(config: Path, *, submit: bool, enter_figures: bool) -> None:
    """Bind 商务厅's staff (who may submit one item) and an editor (who may enter figures)."""
    app = await open_app_from(config)
    try:
        channel = RecordingChannel()
        staff = Person(app, "商务厅小王", channel)
        await staff.send(await invite_code(app, Role.STAFF, "商务厅"))
        if submit:
            await staff.say_all("1", "1", ITEM_TEXT, "1")
            assert [m.text for m in await staff.send("2")] == [handler_messages.finished(1)]
        if enter_figures:
            editor = Person(app, "编辑老陈", channel)
            await editor.send(await invite_code(app, Role.EDITOR))
            await editor.say_all(handler_messages.LABEL_STATISTICS, *REFERENCE_FIGURES)
            saved = await editor.send("1")
            assert saved[0].text == handler_messages.STATISTICS_SAVED
    finally:
        await app.close()


# --- help --------------------------------------------------------------------------------


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, str | None, argparse.ArgumentParser]]:
    """Yield (command path, its help line, its parser) for every command below `parser`."""
    for action in parser._actions:  # argparse keeps its tree in private attributes
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            yield " ".join((*path, name)), helps.get(name), sub
            yield from _commands(sub, (*path, name))


def test_parser_has_every_designed_command_when_built() -> None:
    names = {path for path, _, _ in _commands(build_parser())}

    assert set(COMMANDS) <= names


def test_parser_has_run_command_when_built() -> None:
    names = {path for path, _, _ in _commands(build_parser())}

    assert "run" in names


def test_every_command_has_one_sentence_of_help_and_an_example_when_parser_is_built() -> None:
    commands = list(_commands(build_parser()))
    assert commands, "the parser has no commands"

    for path, help_text, parser in commands:
        assert help_text, f"zhoubao {path} has no help"
        assert help_text.endswith("。") and help_text.count("。") == 1, (path, help_text)
        assert parser.description == help_text, path
        assert parser.epilog is not None, f"zhoubao {path} has no example"
        assert parser.epilog.startswith(f"例：zhoubao {path}"), (path, parser.epilog)


def test_every_option_has_help_when_parser_is_built() -> None:
    parsers = [("", build_parser())] + [(path, sub) for path, _, sub in _commands(build_parser())]

    for path, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"zhoubao {path} {'/'.join(action.option_strings)} has no help"


def _zhoubao_command() -> list[str]:
    script = Path(sys.executable).with_name("zhoubao")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def test_help_lists_every_command_when_run_as_program(tmp_path: Path) -> None:
    result = subprocess.run(
        [*_zhoubao_command(), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert messages.CLI_DESCRIPTION in result.stdout
    top_level = [(path, help_text) for path, help_text, _ in _commands(build_parser())]
    for path, help_text in top_level:
        if " " in path:
            continue  # listed by `zhoubao issue --help`, below
        assert re.search(rf"^\s+{path}\s", result.stdout, re.MULTILINE), path
        assert help_text is not None and help_text in result.stdout, path


def test_production_cli_loads_no_benchmark_and_no_test_code_when_it_runs(tmp_path: Path) -> None:
    # The benchmarks run from the checkout (`python -m benchmarks`); the installed command
    # neither offers them nor reaches into tests/ for their loopback peers.
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        "try:\n"
        "    main(['bench', '--quick'])\n"
        "except SystemExit as exited:\n"
        "    assert exited.code == 2, exited.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('benchmarks', 'tests'))\n"
        "assert not loaded, loaded\n"
        "assert not [p for p in sys.path if p.endswith('tests')], sys.path\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "无效的取值 'bench'" in result.stderr


def test_issue_help_lists_open_with_example_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["issue", "--help"])
    out = capsys.readouterr().out

    assert exited.value.code == 0
    assert re.search(r"^\s+open\s", out, re.MULTILINE)
    assert "例：zhoubao issue open --date 2022-09-14" in out


# --- init --------------------------------------------------------------------------------


def test_init_writes_default_config_when_file_is_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "etc" / "zhoubao.toml"

    run = zhoubao(capsys, path, "init")

    assert run == Run(0, messages.INIT_WRITTEN.format(path=path) + "\n", "")
    assert path.read_text(encoding="utf-8") == default_config_text()


def test_init_exits_2_naming_file_when_file_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zhoubao.toml"
    zhoubao(capsys, path, "init")
    path.write_text("# edited by the administrator\n", encoding="utf-8")

    run = zhoubao(capsys, path, "init")

    assert run == Run(
        2,
        "",
        f"配置文件 {path} 已存在，未覆盖；如要重新生成默认配置，"
        "请运行 zhoubao init --force（原文件会先备份）\n",
    )
    assert path.read_text(encoding="utf-8") == "# edited by the administrator\n"


def test_init_force_rewrites_file_and_says_where_backup_is_when_file_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zhoubao.toml"
    path.write_text("# edited by the administrator\n", encoding="utf-8")

    run = zhoubao(capsys, path, "init", "--force")

    (backup,) = tmp_path.glob("zhoubao.toml.bak-*")
    assert re.fullmatch(r"zhoubao\.toml\.bak-\d{8}-\d{6}", backup.name)
    assert run == Run(
        0,
        messages.INIT_BACKED_UP.format(backup=backup)
        + "\n"
        + messages.INIT_WRITTEN.format(path=path)
        + "\n",
        "",
    )
    assert backup.read_text(encoding="utf-8") == "# edited by the administrator\n"
    assert path.read_text(encoding="utf-8") == default_config_text()


def test_init_force_writes_without_backup_when_file_is_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zhoubao.toml"

    run = zhoubao(capsys, path, "init", "--force")

    assert run == Run(0, messages.INIT_WRITTEN.format(path=path) + "\n", "")
    assert sorted(tmp_path.iterdir()) == [path]


# --- a broken configuration --------------------------------------------------------------


def _config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_status_exits_2_with_one_message_when_window_is_duplicated(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = default_config_text().replace('short_name = "省卫健委"', 'short_name = "商务厅"')
    config_path.write_text(text, encoding="utf-8")

    run = zhoubao(capsys, config_path, "status")

    assert run == Run(2, "", _config_error(config_path) + "\n")
    assert (
        run.err
        == f"配置文件 {config_path} 有误：windows 第 2 项的 short_name：与 windows 第 1 项重复\n"
    )
    assert "Traceback" not in run.err


def test_status_exits_2_with_line_and_column_when_toml_syntax_is_wrong(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = default_config_text().replace("copies = 80", "copies = = 80")
    config_path.write_text(text, encoding="utf-8")

    run = zhoubao(capsys, config_path, "status")

    assert run == Run(2, "", _config_error(config_path) + "\n")
    assert run.err.startswith(f"配置文件 {config_path} 第 ")
    assert "TOML 语法错误" in run.err
    assert "Traceback" not in run.err


def test_status_exits_2_naming_file_when_config_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.toml"

    run = zhoubao(capsys, path, "status")

    assert run == Run(2, "", f"配置文件 {path} 不存在；可用 zhoubao init 生成一份默认配置\n")


def test_status_exits_2_naming_storage_url_when_sqlite_database_is_in_memory(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = default_config_text().replace(
        'data_dir = "data"', 'data_dir = "data"\nurl = "sqlite+aiosqlite:///:memory:"'
    )
    config_path.write_text(text, encoding="utf-8")

    run = zhoubao(capsys, config_path, "status")

    assert run.code == 2
    assert run.err.startswith(f"配置文件 {config_path} 有误：storage.url：")


def test_status_exits_2_naming_data_dir_when_it_cannot_be_created(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = default_config_text().replace('data_dir = "data"', 'data_dir = "zhoubao.toml/data"')
    config_path.write_text(text, encoding="utf-8")

    run = zhoubao(capsys, config_path, "status")

    assert run.code == 2
    assert str(config_path) in run.err
    assert "storage.data_dir" in run.err
    assert not run.err.startswith(messages.INTERNAL_ERROR.split("{error}")[0])


def test_status_exits_2_naming_storage_url_when_it_holds_a_password(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 refuses at once: today the command gets as far as connecting.
    text = default_config_text().replace(
        '# url = "postgresql+asyncpg://zhoubao@localhost/zhoubao"',
        'url = "postgresql+asyncpg://zhoubao:hunter2@127.0.0.1:1/zhoubao"',
    )
    config_path.write_text(text, encoding="utf-8")

    run = zhoubao(capsys, config_path, "status")

    assert run.code == 2
    assert run.err.startswith(f"配置文件 {config_path} 有误：storage.url：")
    assert "hunter2" not in run.err


# --- invite ------------------------------------------------------------------------------


def test_invite_exits_2_listing_windows_when_window_is_unknown(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "invite", "--window", "不存在", "--role", "staff")

    names = "、".join(short_names(config_path))
    assert run == Run(2, "", messages.UNKNOWN_WINDOW.format(name="不存在", names=names) + "\n")


def test_invite_exits_2_when_staff_has_no_window(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "invite", "--role", "staff")

    assert run == Run(2, "", messages.WINDOW_REQUIRED + "\n")


def test_invite_prints_grouped_code_that_binds_staff_when_window_is_known(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "invite", "--window", "商务厅", "--role", "staff")

    code_line = re.escape(messages.INVITE_CREATED.split("{code}")[0])
    found = re.match(rf"{code_line}([A-Z2-9]{{4}}-[A-Z2-9]{{4}}-[A-Z2-9]{{4}})\n", run.out)
    assert found is not None, run.out
    code = found[1]
    assert run == Run(
        0,
        messages.INVITE_CREATED.format(
            code=code, place="商务厅窗口", role=handler_messages.ROLE_NAMES["staff"], days=14
        )
        + "\n",
        "",
    )

    async def bind() -> list[str]:
        app = await open_app_from(config_path)
        try:
            typed = code.replace("-", " ").lower()  # read aloud, typed in lower case
            replies = await Person(app, "商务厅小王", RecordingChannel()).send(typed)
            return [reply.text for reply in replies]
        finally:
            await app.close()

    assert asyncio.run(bind())[0] == handler_messages.bound("商务厅窗口", Role.STAFF)


def test_invite_warns_when_unused_codes_were_made_with_another_invite_key(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def invite_from_another_server() -> None:
        app = await open_app_from(config_path)
        try:
            other = replace(app.settings, invite_key=b"the first server's key, not copied")
            async with app.sessions() as session, session.begin():
                await create_invite(session, other, None, Role.EDITOR, app.clock())
        finally:
            await app.close()

    asyncio.run(invite_from_another_server())
    run = zhoubao(capsys, config_path, "invite", "--role", "editor")

    assert run.code == 0
    assert run.err == messages.INVITE_OTHER_KEY.format(count=1) + "\n"


def test_invite_prints_hall_code_when_role_is_editor(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "invite", "--role", "editor")

    found = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", run.out)
    assert found is not None
    assert run == Run(
        0,
        messages.INVITE_CREATED.format(
            code=found[0],
            place=handler_messages.HALL,
            role=handler_messages.ROLE_NAMES["editor"],
            days=14,
        )
        + "\n",
        "",
    )


# --- issue open --------------------------------------------------------------------------


def test_issue_open_prints_issue_and_period_when_week_has_working_days(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)

    assert run.code == 0, run.err
    assert f"{REFERENCE_ISSUE_LINE}，报送期间{REFERENCE_PERIOD}" in run.out
    assert run.out.startswith(messages.ISSUE_OPENED.split("{issue_line}")[0] + REFERENCE_ISSUE_LINE)


def test_issue_open_opens_this_weeks_issue_when_no_date_is_given(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "issue", "open")

    assert run == Run(0, issue_opened(windows=0) + "\n", "")


def test_issue_open_says_already_open_when_run_twice_in_one_week(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)

    run = zhoubao(capsys, config_path, "issue", "open", "--date", "2022-09-16")

    expected = messages.ISSUE_EXISTS.format(
        issue_line=REFERENCE_ISSUE_LINE, period=REFERENCE_PERIOD
    )
    assert run == Run(0, expected + "\n", "")


def test_issue_open_counts_only_windows_with_staff_when_reporting_notified(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_bind_and_submit(config_path, submit=False, enter_figures=False))

    run = zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)

    assert run == Run(0, issue_opened(windows=1) + "\n", "")


def test_issue_open_exits_2_when_date_is_malformed(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "issue", "open", "--date", "2022-13-01")

    assert run == Run(2, "", messages.BAD_DATE.format(value="2022-13-01") + "\n")


def test_issue_open_exits_2_when_week_has_no_working_day(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2022-01-31 … 02-06: the Spring Festival holiday.
    run = zhoubao(capsys, config_path, "issue", "open", "--date", "2022-02-01")

    assert run == Run(2, "", messages.NO_WORKING_DAYS.format(day="2022-02-01") + "\n")

    status = zhoubao(capsys, config_path, "status")
    assert (status.code, status.out.splitlines()[0]) == (0, "还没有开启任何一期周报。")


SATURDAY = datetime(2022, 9, 17, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # after the reference week


def test_issue_open_on_a_saturday_opens_next_week_and_says_when_windows_hear(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_bind_and_submit(config_path, submit=False, enter_figures=False))

    with time_machine.travel(SATURDAY, tick=True):
        run = zhoubao(capsys, config_path, "issue", "open")
        status = zhoubao(capsys, config_path, "status")

    assert run == Run(
        0,
        messages.ISSUE_OPENED_AHEAD.format(
            issue_line=REFERENCE_ISSUE_LINE,
            period="（9月19日—9月23日）",
            deadline="9月23日（周五）12:00",
            prompt_at="9月19日（周一）09:00",
        )
        + "\n",
        "",
    )
    assert status.out.splitlines()[:2] == [
        f"{REFERENCE_ISSUE_LINE}（9月19日—9月23日）",
        "状态：报送中，截止时间 9月23日（周五）12:00",
    ]
    assert "待发消息：排队 0，" in status.out  # no prompt queued before Monday 09:00


def test_issue_open_refuses_a_week_whose_deadline_has_passed_unless_asked_with_past(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(SATURDAY, tick=True):
        refused = zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)
        nothing = zhoubao(capsys, config_path, "status")
        past = zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY, "--past")

    assert refused == Run(
        2,
        "",
        messages.DEADLINE_PASSED.format(period=REFERENCE_PERIOD, deadline=REFERENCE_DEADLINE)
        + "\n",
    )
    assert nothing.out.startswith("还没有开启任何一期周报。")
    assert past == Run(
        0,
        messages.ISSUE_OPENED_PAST.format(
            issue_line=REFERENCE_ISSUE_LINE, period=REFERENCE_PERIOD, deadline=REFERENCE_DEADLINE
        )
        + "\n",
        "",
    )


def test_issue_open_says_how_numbers_were_derived_when_numbering_names_another_year(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write("\n[numbering]\nyear = 2021\nnext_number = 48\nnext_total = 380\n")

    run = zhoubao(capsys, path, "issue", "open")

    assert run.code == 0, run.err
    assert run.out.splitlines()[-1] == messages.NUMBERS_OTHER_YEAR.format(
        conf_year=2021, conf_number=48, conf_total=380, year=2022, total=380
    )
    assert run.out.startswith("已开启 2022年第1期（总第380期），报送期间（9月13日—9月16日）")


def test_issue_open_on_a_new_configuration_starts_at_the_years_first_issue_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zhoubao.toml"
    write_default_config(path)

    run = zhoubao(capsys, path, "issue", "open")
    again = zhoubao(capsys, path, "issue", "open")

    assert run.code == 0, run.err
    assert run.out.startswith("已开启 2022年第1期（总第1期）")
    assert run.out.splitlines()[-1] == messages.NUMBERS_FIRST.format(year=2022)
    assert again.out == (
        messages.ISSUE_EXISTS.format(issue_line="2022年第1期（总第1期）", period=REFERENCE_PERIOD)
        + "\n"
    )


# --- status ------------------------------------------------------------------------------


def test_status_says_which_issue_opens_first_and_when_before_any_is_open(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "status")

    first = messages.NO_ISSUE_YET.format(
        issue_line=REFERENCE_ISSUE_LINE,
        period=REFERENCE_PERIOD,
        prompting=messages.PROMPT_AT_ONCE,  # the week's opening time (Tuesday 09:00) has passed
        deadline=REFERENCE_DEADLINE,
    )
    outbox = messages.STATUS_OUTBOX.format(queued=0, sent=0, failed=0)
    assert run == Run(0, f"{first}\n{outbox}\n", "")


def test_status_lists_every_window_as_silent_when_issue_just_opened(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)

    run = zhoubao(capsys, config_path, "status")

    report = handler_messages.status_report(
        REFERENCE_ISSUE_LINE,
        REFERENCE_PERIOD,
        [],
        [],
        window_names(config_path),
        0,
        state=handler_messages.issue_state("open", REFERENCE_DEADLINE, None),
    )
    outbox = messages.STATUS_OUTBOX.format(queued=0, sent=0, failed=0)
    assert run == Run(0, f"{report}\n{outbox}\n", "")


# --- draft -------------------------------------------------------------------------------


def test_draft_exits_2_when_no_issue_is_open(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(capsys, config_path, "draft")

    assert run == Run(2, "", messages.NO_ISSUE + "\n")


def test_draft_exits_1_with_no_items_message_when_no_window_submitted(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)
    asyncio.run(_bind_and_submit(config_path, submit=False, enter_figures=True))

    run = zhoubao(capsys, config_path, "draft", "--out", str(tmp_path / "drafts"))

    assert run == Run(1, "", report_messages.NO_ITEMS + "\n")
    assert not (tmp_path / "drafts").exists()


def test_draft_exits_1_naming_missing_figures_when_statistics_not_entered(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)
    asyncio.run(_bind_and_submit(config_path, submit=True, enter_figures=False))

    run = zhoubao(capsys, config_path, "draft", "--out", str(tmp_path / "drafts"))

    labels = "、".join(c.label for c in load_config(config_path).bulletin.statistics)
    assert run == Run(1, "", report_messages.MISSING_FIGURES.format(labels=labels) + "\n")


def test_draft_writes_docx_and_markdown_when_items_and_figures_are_in(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)
    asyncio.run(_bind_and_submit(config_path, submit=True, enter_figures=True))
    out_dir = tmp_path / "drafts"

    run = zhoubao(capsys, config_path, "draft", "--issue-date", "2022-10-21", "--out", str(out_dir))

    (docx_path,) = out_dir.glob("*.docx")
    (markdown_path,) = out_dir.glob("*.md")
    silent = "、".join(window_names(config_path)[1:])
    pdf = (
        messages.DRAFT_PDF.format(pdf=out_dir / docx_path.with_suffix(".pdf").name)
        if find_office() is not None
        else messages.DRAFT_NO_PDF["no_office"]
    )
    assert run == Run(
        0,
        messages.DRAFT_WRITTEN.format(docx=docx_path, markdown=markdown_path)
        + f"\n{pdf}\n"
        + messages.SILENT_WINDOWS.format(names=silent)
        + "\n",
        "",
    )
    if find_office() is not None:
        assert docx_path.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert docx_path.read_bytes()[:2] == b"PK"  # a zip: the .docx
    markdown = markdown_path.read_text(encoding="utf-8")
    assert REFERENCE_ISSUE_LINE in markdown
    assert "2022年10月21日" in markdown
    assert f"（1）{ITEM_TEXT}" in markdown


def test_draft_says_why_there_is_no_pdf_when_libreoffice_is_missing(
    config_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.typeset.find_office", lambda: None)
    zhoubao(capsys, config_path, "issue", "open", "--date", REFERENCE_DAY)
    asyncio.run(_bind_and_submit(config_path, submit=True, enter_figures=True))
    out_dir = tmp_path / "drafts"

    run = zhoubao(capsys, config_path, "draft", "--out", str(out_dir))

    assert run.code == 0
    assert messages.DRAFT_NO_PDF["no_office"] in run.out.splitlines()
    assert "LibreOffice" in messages.DRAFT_NO_PDF["no_office"]
    assert sorted(path.suffix for path in out_dir.iterdir()) == [".docx", ".md"]


def test_default_config_written_when_run_from_fresh_folder_without_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZHOUBAO_CONFIG", raising=False)

    code = main(["status"])

    out, err = capsys.readouterr()
    created = (tmp_path / "zhoubao.toml").resolve()
    assert (code, err.splitlines()) == (0, [messages.CONFIG_CREATED.format(path=created)])
    assert created.read_text("utf-8") == default_config_text()
    # A new configuration starts at the current year's first issue, and says so.
    assert out.splitlines()[:3] == [
        "还没有开启任何一期周报。",
        messages.NO_ISSUE_YET.splitlines()[1].format(
            issue_line="2022年第1期（总第1期）",
            period=REFERENCE_PERIOD,
            prompting=messages.PROMPT_AT_ONCE,
            deadline=REFERENCE_DEADLINE,
        ),
        messages.NUMBERS_FIRST.format(year=2022),
    ]


def test_named_config_not_created_when_it_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.toml"

    code = main(["--config", str(missing), "status"])

    assert (code, missing.exists()) == (2, False)
    assert str(missing) in capsys.readouterr().err


def test_arguments_pass_the_text_gate_so_a_pasted_window_name_still_matches(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = zhoubao(
        capsys, config_path, "invite", "--window", "商务\u200b厅\uffff", "--role", "staff"
    )

    assert run.code == 0, run.err
    assert "商务厅窗口" in run.out
