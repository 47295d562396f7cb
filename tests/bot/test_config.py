"""Loading the TOML configuration: the packaged default and every kind of mistake."""

from __future__ import annotations

import re
import stat
import time as time_module
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import (
    Config,
    ReminderConfig,
    WindowConfig,
    default_config_text,
    load_config,
    write_default_config,
)
from bot.config import load as config_module
from bot.errors import ConfigError
from report.bulletin import BulletinTemplate, Criterion, StatisticsCategory, Subsection

# Values of issue 2022-31 (shared/reference/weekly-bulletin-2022-31.txt), typed here so
# these tests do not depend on another module's copy.
REFERENCE_TEMPLATE = BulletinTemplate(
    title="窗口工作周报",
    organisation="四川省政府政务服务和公共资源交易服务中心",
    column_title="政务服务工作",
    statistics_heading="省级政务服务事项受理办理情况",
    statistics_sentence=(
        "据四川一体化政务服务平台数据统计，{cum_start}至{cum_end}，"
        "省本级行政许可事项受理{permit_accepted}件，办结{permit_completed}件；"
        "公共服务事项受理{public_accepted}件，办结{public_completed}件，"
        "其它九类行权事项受理{other_accepted}件，累计办结{other_completed}件。"
    ),
    statistics_categories=(
        StatisticsCategory(key="permit", label="省本级行政许可事项"),
        StatisticsCategory(key="public", label="公共服务事项"),
        StatisticsCategory(key="other", label="其它九类行权事项"),
    ),
    news_heading="窗口工作动态",
    subsections=(
        Subsection(key="business_environment", title="优化营商环境工作开展情况"),
        Subsection(key="service_efficiency", title="窗口服务效能提升工作情况"),
    ),
    inspection_heading="大厅巡查情况",
    inspection_intro=(
        "大厅窗口规范化、标准化作为大厅管理贯彻始终的重点工作之一，"
        "各部门窗口须严格执行规范化、标准化要求，"
        "政务平台服务处结合“放管服”大督查要求，"
        "将加强管理力度和措施、加大督（巡）查力度，落实各项规范化、标准化要求。"
        "本周大厅巡查情况如下："
    ),
    criteria=(
        Criterion(key="attendance", label="按时到岗情况。"),
        Criterion(key="workspace", label="工作区域标准化执行情况。"),
        Criterion(key="dress", label="着装情况。"),
        Criterion(key="badge", label="工作牌佩戴情况。"),
        Criterion(key="discipline", label="纪律秩序。"),
        Criterion(key="prevention", label="大厅防控情况。"),
    ),
    default_verdict="总体情况良好。",
    distribution=(
        ("报", "中心领导。"),
        ("送", "各相关省级部门（单位），中心各处（室）、直属单位。"),
        ("发", "各部门窗口。"),
    ),
    copies=80,
)

REFERENCE_SENTENCE = (
    "据四川一体化政务服务平台数据统计，2022年1月1日至2022年9月16日，"
    "省本级行政许可事项受理617058件，办结611244件；"
    "公共服务事项受理19691982件，办结7463962件，"
    "其它九类行权事项受理49602件，累计办结50398件。"
)

# The [numbering] block of the default file, uncommented (the reference issue's numbers).
NUMBERING = "\n[numbering]\nyear = 2022\nnext_number = 31\nnext_total = 406\n"


def replaced(text: str, old: str, new: str) -> str:
    """Return `text` with its single occurrence of `old` replaced by `new`."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the default configuration"
    return text.replace(old, new)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zhoubao.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


@pytest.fixture
def default_path(tmp_path: Path) -> Path:
    return write(tmp_path, default_config_text())


# --- The packaged default. -----------------------------------------------------------------


def test_default_config_gives_reference_template_when_loaded(default_path: Path) -> None:
    assert load_config(default_path).bulletin.to_template() == REFERENCE_TEMPLATE


def test_default_sentence_reproduces_reference_when_filled_with_reference_figures(
    default_path: Path,
) -> None:
    template = load_config(default_path).bulletin.to_template()

    sentence = template.statistics_sentence.format(
        cum_start="2022年1月1日",
        cum_end="2022年9月16日",
        permit_accepted=617058,
        permit_completed=611244,
        public_accepted=19691982,
        public_completed=7463962,
        other_accepted=49602,
        other_completed=50398,
    )

    assert sentence == REFERENCE_SENTENCE


def test_default_config_leaves_numbering_unset_so_a_new_hall_starts_at_its_first_issue(
    default_path: Path,
) -> None:
    assert load_config(default_path).numbering is None


def test_numbering_is_read_when_the_administrator_uncomments_it(tmp_path: Path) -> None:
    numbering = load_config(write(tmp_path, default_config_text() + NUMBERING)).numbering

    assert numbering is not None
    assert (numbering.year, numbering.next_number, numbering.next_total) == (2022, 31, 406)


def test_default_windows_start_with_reference_windows_when_loaded(default_path: Path) -> None:
    windows = load_config(default_path).windows

    assert windows[:3] == (
        WindowConfig(name="商务厅窗口", short_name="商务厅", order=10),
        WindowConfig(name="省卫健委窗口", short_name="省卫健委", order=20),
        WindowConfig(name="住建厅窗口", short_name="住建厅", order=30),
    )
    assert len(windows) >= 20
    assert all(window.name == f"{window.short_name}窗口" for window in windows)


def test_default_schedule_uses_documented_times_when_loaded(default_path: Path) -> None:
    schedule = load_config(default_path).schedule

    assert (schedule.timezone, schedule.open_time, schedule.deadline_time) == (
        "Asia/Shanghai",
        time(9, 0),
        time(12, 0),
    )
    assert schedule.reminders == (
        ReminderConfig(day_offset=-1, time=time(15, 0)),
        ReminderConfig(day_offset=0, time=time(9, 0)),
    )


def test_schedule_zone_gives_zoneinfo_when_timezone_is_valid(default_path: Path) -> None:
    assert load_config(default_path).schedule.zone() == ZoneInfo("Asia/Shanghai")


def test_default_channels_enable_only_console_when_loaded(default_path: Path) -> None:
    channels = load_config(default_path).channels

    assert (channels.console.enabled, channels.telegram.enabled, channels.wechat.enabled) == (
        True,
        False,
        False,
    )


def test_storage_resolves_against_config_directory_when_paths_relative(
    tmp_path: Path,
) -> None:
    storage = load_config(write(tmp_path, default_config_text())).storage

    assert storage.data_dir == tmp_path / "data"
    assert storage.url == f"sqlite+aiosqlite:///{tmp_path}/data/zhoubao.sqlite3"


def test_storage_defaults_to_data_folder_when_section_absent(tmp_path: Path) -> None:
    text = replaced(default_config_text(), '[storage]\ndata_dir = "data"\n', "")

    storage = load_config(write(tmp_path, text)).storage

    assert storage.url == f"sqlite+aiosqlite:///{tmp_path}/data/zhoubao.sqlite3"


def test_sqlite_url_resolves_against_config_directory_when_relative(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        '# url = "postgresql+asyncpg://zhoubao@localhost/zhoubao"',
        'url = "sqlite+aiosqlite:///db/bulletin.sqlite3"',
    )

    storage = load_config(write(tmp_path, text)).storage

    assert storage.url == f"sqlite+aiosqlite:///{tmp_path}/db/bulletin.sqlite3"


def test_token_file_resolves_against_config_directory_when_relative(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        '# token_file = "secrets/telegram_token"',
        'token_file = "secrets/telegram_token"',
    )

    telegram = load_config(write(tmp_path, text)).channels.telegram

    assert telegram.token_file == tmp_path / "secrets" / "telegram_token"


def test_distribution_omits_line_when_empty(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'bao = "中心领导。"', 'bao = ""')

    template = load_config(write(tmp_path, text)).bulletin.to_template()

    assert template.distribution == (
        ("送", "各相关省级部门（单位），中心各处（室）、直属单位。"),
        ("发", "各部门窗口。"),
    )


def test_extra_days_parse_as_dates_when_written_as_toml_dates(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "extra_holidays = []", "extra_holidays = [2024-10-08]")

    schedule = load_config(write(tmp_path, text)).schedule

    assert schedule.extra_holidays == (date(2024, 10, 8),)


def test_config_loads_when_file_starts_with_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeff" + default_config_text())

    assert isinstance(load_config(path), Config)


# --- Writing the default. ------------------------------------------------------------------


def test_write_default_config_copies_packaged_file_when_path_is_free(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "zhoubao.toml"

    write_default_config(path)

    assert path.read_text(encoding="utf-8") == default_config_text()


def test_write_default_config_refuses_when_file_exists(tmp_path: Path) -> None:
    path = write(tmp_path, "# mine\n")

    with pytest.raises(ConfigError) as caught:
        write_default_config(path)

    assert str(caught.value) == (
        f"配置文件 {path} 已存在，未覆盖；如要重新生成默认配置，"
        "请运行 zhoubao init --force（原文件会先备份）"
    )
    assert path.read_text(encoding="utf-8") == "# mine\n"


def test_write_default_config_backs_up_and_rewrites_when_forced_over_a_file(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "# mine\n")
    path.chmod(0o640)

    backup = write_default_config(path, force=True)

    assert backup is not None and backup.parent == tmp_path
    assert re.fullmatch(r"zhoubao\.toml\.bak-\d{8}-\d{6}", backup.name), backup
    assert backup.read_text(encoding="utf-8") == "# mine\n"
    assert path.read_text(encoding="utf-8") == default_config_text()
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, backup.name])


def test_write_default_config_keeps_every_backup_when_forced_twice_in_one_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            return cls(2024, 10, 8, 9, 30, 5, tzinfo=tz)

    monkeypatch.setattr(config_module, "datetime", Frozen)
    monkeypatch.setenv("TZ", "UTC")
    time_module.tzset()
    path = write(tmp_path, "# first\n")
    first = write_default_config(path, force=True)
    path.write_text("# second\n", encoding="utf-8")
    second = write_default_config(path, force=True)
    path.write_text("# third\n", encoding="utf-8")

    third = write_default_config(path, force=True)

    monkeypatch.undo()
    time_module.tzset()
    assert [b.name if b else None for b in (first, second, third)] == [
        "zhoubao.toml.bak-20241008-093005",
        "zhoubao.toml.bak-20241008-093005-2",
        "zhoubao.toml.bak-20241008-093005-3",
    ]
    assert [b.read_text(encoding="utf-8") for b in (first, second, third) if b] == [
        "# first\n",
        "# second\n",
        "# third\n",
    ]


def test_write_default_config_returns_no_backup_when_forced_on_a_free_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "etc" / "zhoubao.toml"

    assert write_default_config(path, force=True) is None
    assert path.read_text(encoding="utf-8") == default_config_text()


def test_write_default_config_keeps_symbolic_link_when_forced_through_it(
    tmp_path: Path,
) -> None:
    real = write(tmp_path, "# mine\n")
    link = tmp_path / "etc" / "zhoubao.toml"
    link.parent.mkdir()
    link.symlink_to(real)

    backup = write_default_config(link, force=True)

    assert link.is_symlink() and link.resolve() == real
    assert real.read_text(encoding="utf-8") == default_config_text()
    assert backup is not None and backup.parent == tmp_path
    assert backup.read_text(encoding="utf-8") == "# mine\n"


def test_write_default_config_refuses_when_forced_over_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "zhoubao.toml"
    path.mkdir()

    with pytest.raises(ConfigError) as caught:
        write_default_config(path, force=True)

    assert str(caught.value) == f"配置文件 {path} 无法写入：这是一个目录，不是文件"


# --- Mistakes: one ConfigError naming the file, the key and the problem. -------------------


def test_load_config_names_file_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    assert load_error(path) == f"配置文件 {path} 不存在；可用 zhoubao init 生成一份默认配置"


def test_load_config_names_file_when_path_is_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"配置文件 {tmp_path} 无法读取：这是一个目录，不是文件"


def test_load_config_names_file_when_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "zhoubao.toml"
    path.write_bytes('title = "窗口工作周报"\n'.encode("gbk"))

    assert load_error(path) == f"配置文件 {path} 不是 UTF-8 编码，请用 UTF-8 保存"


def test_load_config_gives_line_and_column_when_toml_syntax_is_wrong(tmp_path: Path) -> None:
    path = write(tmp_path, '[bulletin]\ntitle = "窗口工作周报"\ncopies = = 80\n')

    assert load_error(path) == (
        f"配置文件 {path} 第 3 行第 10 列：TOML 语法错误：无法识别的值（字符串要加英文双引号）"
    )


def test_load_config_names_table_when_declared_twice(tmp_path: Path) -> None:
    path = write(tmp_path, "[numbering]\nyear = 2022\n\n[numbering]\nyear = 2023\n")

    assert load_error(path) == (
        f"配置文件 {path} 第 4 行第 11 列：TOML 语法错误：重复声明了 numbering"
    )


def test_load_config_suggests_key_when_unknown_key_is_a_typo(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "copies = 80", "copies = 80\ncolumn_titel = 1")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.column_titel："
        "未知的配置项，是否应为 column_title？"
    )


def test_load_config_lists_allowed_keys_when_key_is_unknown(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "enabled = true ", "enabled = true\ncolour = 1 ")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.console.colour："
        "未知的配置项；此处可用：enabled"
    )


def test_load_config_names_both_windows_when_short_name_is_duplicated(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'short_name = "教育厅"', 'short_name = "商务厅"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误："
        "windows 第 6 项的 short_name：与 windows 第 1 项重复"
    )


def test_load_config_counts_windows_from_1_when_a_window_has_an_unknown_key(
    tmp_path: Path,
) -> None:
    text = replaced(default_config_text(), 'short_name = "商务厅"', 'short_nmae = "商务厅"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有 2 处错误：\n"
        "  windows 第 1 项的 short_name：缺少此项\n"
        "  windows 第 1 项的 short_nmae：未知的配置项，是否应为 short_name？"
    )


def test_load_config_rejects_time_when_hour_is_25(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'open_time = "09:00"', 'open_time = "25:00"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：schedule.open_time："
        "时间“25:00”无效，应为 24 小时制的“HH:MM”，如“09:00”"
    )


def test_load_config_names_reminder_when_its_time_is_malformed(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'time = "15:00"', 'time = "3pm"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：schedule.reminders 第 1 项的 time："
        "时间“3pm”无效，应为 24 小时制的“HH:MM”，如“09:00”"
    )


def test_load_config_rejects_reminder_when_after_deadline(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        '{ day_offset = 0, time = "09:00" }',
        '{ day_offset = 0, time = "13:00" }',
    )

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：schedule.reminders 第 2 项的 time："
        "截止当天的提醒应早于截止时间 12:00"
    )


def test_load_config_rejects_timezone_when_unknown(tmp_path: Path) -> None:
    text = replaced(default_config_text(), '"Asia/Shanghai"', '"Asia/Shanghia"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：schedule.timezone："
        "未知的时区“Asia/Shanghia”，应为 IANA 时区名，如“Asia/Shanghai”"
    )


def test_load_config_rejects_sentence_when_placeholder_is_unknown(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "{cum_end}，", "{cum_end}{week}，")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.statistics_sentence："
        "占位符 {week} 未定义；可用的占位符：{cum_start}、{cum_end}、"
        "{permit_accepted}、{permit_completed}、{public_accepted}、{public_completed}、"
        "{other_accepted}、{other_completed}"
    )


def test_load_config_rejects_sentence_when_category_placeholder_is_missing(
    tmp_path: Path,
) -> None:
    text = replaced(default_config_text(), "累计办结{other_completed}件", "累计办结件")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.statistics_sentence："
        "缺少占位符 {other_completed}；每个统计类别的受理数和办结数都要写进句子"
    )


def test_load_config_rejects_sentence_when_braces_are_unbalanced(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "{cum_start}至", "{cum_start至")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.statistics_sentence："
        "花括号不配对；要在文字中写花括号本身，请写成 {{ 或 }}"
    )


def test_load_config_rejects_token_when_written_under_channels(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'mode = "polling"', 'mode = "polling"\ntoken = "1:x"')

    error = load_error(write(tmp_path, text))

    assert error == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.telegram.token："
        "密钥不能写在配置文件里；请把它放进环境变量并用 token_env 写变量名，"
        "或放进单独的文件并用 token_file 写文件路径"
    )
    assert "1:x" not in error


def test_load_config_rejects_secret_when_under_undeclared_channel(tmp_path: Path) -> None:
    text = default_config_text() + '\n[channels.wecom]\ntoken = "abc"\n'

    assert load_error(write(tmp_path, text)).startswith(
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.wecom.token：密钥不能写在配置文件里"
    )


def test_load_config_rejects_key_when_not_ascii_identifier(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'key = "dress"', 'key = "着装"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.criteria 第 3 项的 key："
        "应以小写英文字母开头，只含小写英文字母、数字和下划线，如 business_environment"
    )


def test_load_config_names_both_criteria_when_key_is_duplicated(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'key = "dress"', 'key = "badge"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.criteria 第 4 项的 key："
        "与 bulletin.criteria 第 3 项重复"
    )


def test_load_config_rejects_text_when_it_spans_lines(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        'default_verdict = "总体情况良好。"',
        'default_verdict = """\n总体情况良好。\n"""',
    )

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：bulletin.default_verdict："
        "首尾不能有空白（多行字符串请在行尾用 \\ 续行）"
    )


def test_load_config_rejects_date_when_quoted(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "extra_workdays = []", 'extra_workdays = ["2024-10-12"]')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：schedule.extra_workdays 第 1 项："
        "应为日期，不加引号，如 2024-10-08"
    )


def test_load_config_rejects_total_when_below_issue_number(tmp_path: Path) -> None:
    text = default_config_text() + replaced(NUMBERING, "next_total = 406", "next_total = 30")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：numbering.next_total："
        "总期号不能小于当年期号 next_number"
    )


def test_load_config_requires_endpoint_when_wechat_enabled(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "enabled = false\n# endpoint", "enabled = true\n# e")

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.wechat.endpoint："
        "启用 wechat 时必须填写"
    )


def test_load_config_rejects_database_url_when_driver_is_not_async(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        '# url = "postgresql+asyncpg://zhoubao@localhost/zhoubao"',
        'url = "postgresql://zhoubao@localhost/zhoubao"',
    )

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：storage.url："
        "不是有效的数据库地址，应如 sqlite+aiosqlite:///data/zhoubao.sqlite3"
        " 或 postgresql+asyncpg://用户名@主机/库名"
    )


def test_load_config_lists_every_problem_when_several_keys_are_wrong(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "copies = 80", "copies = 0")
    text += replaced(NUMBERING, "next_total = 406", 'next_total = "406"')

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有 2 处错误："
        "\n  bulletin.copies：应大于 0"
        "\n  numbering.next_total：应为整数"
    )


def test_config_error_carries_first_key_when_validation_fails(tmp_path: Path) -> None:
    text = replaced(default_config_text(), 'open_time = "09:00"', 'open_time = "25:00"')
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert (caught.value.path, caught.value.key) == (str(path), "schedule.open_time")


# --- [channels.wechat] rooms -----------------------------------------------------------------


def test_wechat_rooms_default_to_mention_when_absent(default_path: Path) -> None:
    assert load_config(default_path).channels.wechat.rooms == "mention"


def test_wechat_rooms_load_when_set_to_all(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        'token_env = "ZHOUBAO_WECHAT_TOKEN"',
        'token_env = "ZHOUBAO_WECHAT_TOKEN"\nrooms = "all"',
    )

    assert load_config(write(tmp_path, text)).channels.wechat.rooms == "all"


def test_wechat_rooms_rejected_when_value_unknown(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(),
        'token_env = "ZHOUBAO_WECHAT_TOKEN"',
        'token_env = "ZHOUBAO_WECHAT_TOKEN"\nrooms = "some"',
    )

    assert load_error(write(tmp_path, text)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.wechat.rooms："
        '应为 "mention", "all" 或 "ignore"'
    )


# --- [channels.telegram] webhook -----------------------------------------------------------


def _telegram_webhook(tmp_path: Path, *lines: str) -> Path:
    """The default file with Telegram enabled in webhook mode plus `lines` in its section."""
    text = replaced(
        default_config_text(),
        'token_env = "ZHOUBAO_TELEGRAM_TOKEN"',
        'token_env = "ZHOUBAO_TELEGRAM_TOKEN"\n' + "\n".join(lines),
    )
    text = replaced(text, 'mode = "polling"', 'mode = "webhook"')
    text = replaced(
        text, "[channels.telegram]\nenabled = false", "[channels.telegram]\nenabled = true"
    )
    return write(tmp_path, text)


def test_telegram_webhook_settings_default_when_absent(default_path: Path) -> None:
    telegram = load_config(default_path).channels.telegram

    assert (
        telegram.webhook_url,
        telegram.webhook_secret_env,
        telegram.listen,
        telegram.webhook_path,
    ) == (None, "ZHOUBAO_TELEGRAM_WEBHOOK_SECRET", "127.0.0.1:8080", "/telegram/webhook")


def test_telegram_webhook_settings_load_when_written(tmp_path: Path) -> None:
    path = _telegram_webhook(
        tmp_path,
        'webhook_url = "https://zhoubao.example.gov.cn/tg/hook"',
        'webhook_secret_env = "MY_WEBHOOK_SECRET"',
        'listen = "0.0.0.0:9000"',
        'webhook_path = "/tg/hook"',
    )

    telegram = load_config(path).channels.telegram

    assert (telegram.mode, telegram.webhook_url, telegram.webhook_secret_env) == (
        "webhook",
        "https://zhoubao.example.gov.cn/tg/hook",
        "MY_WEBHOOK_SECRET",
    )
    assert (telegram.listen, telegram.webhook_path) == ("0.0.0.0:9000", "/tg/hook")


def test_telegram_webhook_requires_url_when_mode_is_webhook(tmp_path: Path) -> None:
    assert load_error(_telegram_webhook(tmp_path)) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.telegram.webhook_url："
        "telegram 使用 webhook 模式时必须填写"
    )


def test_telegram_webhook_url_rejected_when_not_https(tmp_path: Path) -> None:
    path = _telegram_webhook(tmp_path, 'webhook_url = "http://example.org/hook"')

    assert load_error(path).startswith(
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.telegram.webhook_url："
        "应为公网可访问的 https 地址"
    )


def test_telegram_listen_rejected_when_port_missing(tmp_path: Path) -> None:
    path = _telegram_webhook(
        tmp_path, 'webhook_url = "https://example.org/hook"', 'listen = "127.0.0.1"'
    )

    assert load_error(path) == (
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.telegram.listen："
        "应为“主机:端口”，如 127.0.0.1:8080"
    )


def test_telegram_webhook_secret_env_rejected_when_not_a_variable_name(tmp_path: Path) -> None:
    path = _telegram_webhook(
        tmp_path, 'webhook_url = "https://example.org/hook"', 'webhook_secret_env = "a secret"'
    )

    assert load_error(path).startswith(
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.telegram.webhook_secret_env："
        "应为环境变量名"
    )


@pytest.mark.parametrize("line", ['secret = "abc"', 'webhook_token = "abc"'])
def test_telegram_webhook_secret_rejected_when_written_in_file(tmp_path: Path, line: str) -> None:
    path = _telegram_webhook(tmp_path, 'webhook_url = "https://example.org/hook"', line)

    error = load_error(path)

    assert error.startswith(
        f"配置文件 {tmp_path / 'zhoubao.toml'} 有误：channels.telegram.{line.split()[0]}："
        "密钥不能写在配置文件里"
    )
    assert "abc" not in error


def test_every_text_of_the_file_passes_the_text_gate(tmp_path: Path) -> None:
    text = replaced(
        default_config_text(), 'name = "商务厅窗口"', 'name = "商务厅\\uffff窗\\u200b口"'
    )

    names = [window.name for window in load_config(write(tmp_path, text)).windows]

    assert names[0] == "商务厅窗口"


# --- [intake] ------------------------------------------------------------------------------


def test_default_file_asks_items_for_six_letters_or_digits(default_path: Path) -> None:
    assert load_config(default_path).intake.min_item_chars == 6


def test_min_item_chars_defaults_to_six_when_intake_section_is_absent(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "[intake]\nmin_item_chars = 6", "")

    assert load_config(write(tmp_path, text)).intake.min_item_chars == 6


def test_load_config_rejects_min_item_chars_when_below_one(tmp_path: Path) -> None:
    text = replaced(default_config_text(), "min_item_chars = 6", "min_item_chars = 0")

    assert "intake.min_item_chars" in load_error(write(tmp_path, text))


# --- [security] ----------------------------------------------------------------------------


def test_security_defaults_to_10_minutes_and_90_days_when_section_absent(tmp_path: Path) -> None:
    text = default_config_text()
    text = text[: text.index("[security]")]

    security = load_config(write(tmp_path, text)).security

    assert (security.stranger_reply_minutes, security.retention_days) == (10, 90)


def test_default_file_sets_security_to_its_defaults(tmp_path: Path) -> None:
    security = load_config(write(tmp_path, default_config_text())).security

    assert (security.stranger_reply_minutes, security.retention_days) == (10, 90)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("stranger_reply_minutes = 0", "security.stranger_reply_minutes：应不小于 1"),
        ("retention_days = 3", "security.retention_days：应不小于 7"),
        ('retention_days = "90"', "security.retention_days：应为整数"),
    ],
)
def test_load_config_rejects_security_value_when_out_of_bounds(
    tmp_path: Path, line: str, problem: str
) -> None:
    key = line.split(" = ")[0]
    text = default_config_text()
    start = text.index(f"{key} = ", text.index("[security]"))
    end = text.index("\n", start)
    text = text[:start] + line + text[end:]

    assert load_error(write(tmp_path, text)).endswith(problem)
