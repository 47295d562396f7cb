"""Settings from one TOML file: bulletin template, numbering, schedule, windows, storage, channels.

`load_config` is the only way in: every problem (missing file, TOML syntax, a bad value)
becomes one `ConfigError` whose message names the file, the dotted key and the problem,
in Chinese for the administrator. `write_default_config` copies `default_config.toml`
(`zhoubao init`; with `force`, over an existing file that it backs up first).
"""

from __future__ import annotations

import difflib
import re
import shutil
import string
import tomllib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError
from report.bulletin import BulletinTemplate, Criterion, StatisticsCategory, Subsection
from report.text_gate import clean_text
from storage.models import Base, InspectionResult, Item, StatisticFigure, Window

DEFAULT_CONFIG_RESOURCE: Final = "default_config.toml"
DEFAULT_DATABASE_NAME: Final = "zhoubao.sqlite3"
ASYNC_DRIVERS: Final = ("sqlite+aiosqlite", "postgresql+asyncpg")
KEY_PATTERN: Final = r"^[a-z][a-z0-9_]*$"
ENV_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Keys that would hold a secret; channel secrets come from token_env / token_file only.
SECRET_KEYS: Final = frozenset({"token", "secret", "password", "api_key"})


def _column_length(model: type[Base], column: str) -> int:
    """The length of a String column, in characters (PostgreSQL's varchar(n) counts those)."""
    sql_type = model.__table__.c[column].type
    assert isinstance(sql_type, String) and sql_type.length is not None
    return sql_type.length


# What the database holds: a value beyond these fails on PostgreSQL (SQLite stores anything),
# so the file is refused instead, under the key that holds it.
INT32_MIN: Final = -(2**31)  # an Integer column on PostgreSQL
INT32_MAX: Final = 2**31 - 1
WINDOW_NAME_MAX: Final = _column_length(Window, "name")
WINDOW_SHORT_NAME_MAX: Final = _column_length(Window, "short_name")
KEY_MAX: Final = min(  # a subsection's, statistic's or criterion's key is stored with the data
    _column_length(Item, "subsection"),
    _column_length(StatisticFigure, "category"),
    _column_length(InspectionResult, "criterion"),
)
# Bounds with room to count on: each new issue adds 1 to both numbers.
MAX_NEXT_NUMBER: Final = 1000  # a weekly bulletin has at most 53 issues a year
MAX_NEXT_TOTAL: Final = 1_000_000
MAX_COPIES: Final = 100_000
FIRST_YEAR: Final = 2000  # the years the calendar and the numbering know
LAST_YEAR: Final = 2100

# --- Administrator-facing wording (Chinese). ---------------------------------------------
# Kept together so one reviewer reads it all; move to bot/messages.py once that module exists.


def _msg_file_missing(path: str) -> str:
    return f"配置文件 {path} 不存在；可用 zhoubao init 生成一份默认配置"


def _msg_file_unreadable(path: str, reason: str) -> str:
    return f"配置文件 {path} 无法读取：{reason}"


def _msg_not_utf8(path: str) -> str:
    return f"配置文件 {path} 不是 UTF-8 编码，请用 UTF-8 保存"


def _msg_syntax(path: str, where: str, problem: str) -> str:
    place = f" {where}" if where else ""
    return f"配置文件 {path}{place}：TOML 语法错误：{problem}"


def _msg_invalid(path: str, key: str, problem: str) -> str:
    if not key:
        return f"配置文件 {path} 有误：{problem}"
    return f"配置文件 {path} 有误：{key}：{problem}"


def _msg_invalid_many(path: str, lines: Sequence[tuple[str, str]], more: int) -> str:
    body = "".join(f"\n  {key}：{problem}" if key else f"\n  {problem}" for key, problem in lines)
    tail = f"\n  ……另有 {more} 处" if more else ""
    return f"配置文件 {path} 有 {len(lines) + more} 处错误：{body}{tail}"


def _msg_exists(path: str) -> str:
    return (
        f"配置文件 {path} 已存在，未覆盖；如要重新生成默认配置，"
        "请运行 zhoubao init --force（原文件会先备份）"
    )


def _msg_unwritable(path: str, reason: str) -> str:
    return f"配置文件 {path} 无法写入：{reason}"


MSG_NOT_A_FILE: Final = "这是一个目录，不是文件"
MSG_NO_PERMISSION: Final = "没有读取权限"
MSG_NO_WRITE_PERMISSION: Final = "没有写入权限"
MSG_MISSING: Final = "缺少此项"
MSG_UNKNOWN_KEY: Final = "未知的配置项"
MSG_EMPTY: Final = "不能为空"
MSG_SURROUNDING_SPACE: Final = "首尾不能有空白（多行字符串请在行尾用 \\ 续行）"
MSG_LINE_BREAK: Final = "不能换行（多行字符串请在行尾用 \\ 续行）"
MSG_BAD_KEY: Final = "应以小写英文字母开头，只含小写英文字母、数字和下划线，如 business_environment"
MSG_BAD_ENV_NAME: Final = "应为环境变量名（英文字母、数字和下划线），如 ZHOUBAO_TELEGRAM_TOKEN"
MSG_SECRET_IN_FILE: Final = (
    "密钥不能写在配置文件里；请把它放进环境变量并用 token_env 写变量名，"
    "或放进单独的文件并用 token_file 写文件路径"
)
MSG_NO_CHANNEL: Final = "至少要启用一个渠道（console、telegram 或 wechat）"
MSG_ENDPOINT_REQUIRED: Final = "启用 wechat 时必须填写"
MSG_WEBHOOK_URL: Final = (
    "应为公网可访问的 https 地址，如 https://zhoubao.example.gov.cn/telegram/webhook"
)
MSG_WEBHOOK_URL_REQUIRED: Final = "telegram 使用 webhook 模式时必须填写"
MSG_LISTEN: Final = "应为“主机:端口”，如 127.0.0.1:8080"
MSG_LISTEN_TWICE: Final = (
    "与 [channels.telegram] listen 不同；网页服务只有一个地址，请只在 [server] 中写 listen"
)
MSG_WEBHOOK_PATH: Final = "应以 / 开头，只含英文字母、数字和 _ - . /，如 /telegram/webhook"
MSG_BRACES: Final = "花括号不配对；要在文字中写花括号本身，请写成 {{ 或 }}"
MSG_BAD_API_URL: Final = "应为 Bot API 服务器的地址，如 https://api.telegram.org"
MSG_PASSWORD_IN_URL: Final = (
    "数据库密码不能写在配置文件里；请去掉地址中的密码，改用环境变量 PGPASSWORD 或 ~/.pgpass"
)
MSG_SQLITE_NOT_A_FILE: Final = (
    "SQLite 数据库必须是一个文件，例如 sqlite+aiosqlite:///data/zhoubao.sqlite3"
)
MSG_BAD_DATABASE_URL: Final = (
    "不是有效的数据库地址，应如 sqlite+aiosqlite:///data/zhoubao.sqlite3"
    " 或 postgresql+asyncpg://用户名@主机/库名"
)
MSG_DUPLICATE: Final = "与 {other}重复"  # {other} ends in "第 N 项"
MSG_TOTAL_BELOW_NUMBER: Final = "总期号不能小于当年期号 next_number"
MSG_DAY_OUT_OF_RANGE: Final = f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间"

_TYPE_PROBLEMS: Final[dict[str, str]] = {
    "string_type": "应为字符串（加英文双引号）",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "date_type": "应为日期，不加引号，如 2024-10-08",
    "date_parsing": "应为日期，不加引号，如 2024-10-08",
    "date_from_datetime_inexact": "应为日期，不加引号，如 2024-10-08",
    "list_type": "应为数组，如 [ ... ]",
    "tuple_type": "应为数组，如 [ ... ]",
    "dict_type": "应为表（[小节] 或 { ... }）",
    "model_type": "应为表（[小节] 或 { ... }）",
    "model_attributes_type": "应为表（[小节] 或 { ... }）",
    "path_type": "应为路径字符串",
    "string_too_short": MSG_EMPTY,
}

# tomllib's messages (Python 3.11), without the "(at line …)" suffix.
_TOML_PROBLEMS: Final[tuple[tuple[str, str], ...]] = (
    (r"Invalid statement", "无法识别的语句"),
    (r"Expected '=' after a key in a key/value pair", "键名后缺少“=”"),
    (r"Found invalid character (.+)", r"出现无效字符 \1"),
    (r"Cannot declare (.+) twice", r"重复声明了 \1"),
    (r"Cannot overwrite a value", "同一个键重复赋值"),
    (r"Expected '\]' at the end of a table declaration", "表头缺少结尾的“]”"),
    (r"Expected '\]\]' at the end of an array declaration", "表数组头缺少结尾的“]]”"),
    (r"Cannot mutate immutable namespace (.+)", r"不能再向 \1 添加内容"),
    (r"Cannot redefine namespace (.+)", r"不能重新定义 \1"),
    (r"Invalid initial character for a key part", "键名的第一个字符无效"),
    (r"Unclosed array", "数组缺少结尾的“]”"),
    (r"Unclosed inline table", "内联表缺少结尾的“}”"),
    (r"Duplicate inline table key (.+)", r"内联表中重复的键 \1"),
    (r"Unescaped '\\' in a string", "字符串中的“\\”需写成“\\\\”"),
    (r"Unterminated string", "字符串缺少结尾的引号"),
    (r"Illegal character (.+)", r"字符串中有不允许的字符 \1"),
    (r"Invalid date or datetime", "日期或时间无效"),
    (r"Invalid value", "无法识别的值（字符串要加英文双引号）"),
    (r"Expected newline or end of document after a statement", "一行只能写一项，此处应换行"),
    (r"Expected (.+)", r"此处应为 \1"),
)


# --- Field types. --------------------------------------------------------------------------


class _Problem(ValueError):
    """A validation problem with a Chinese message, at `loc` below the validated object."""

    def __init__(
        self,
        message: str,
        loc: tuple[str | int, ...] = (),
        other: tuple[str | int, ...] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message  # may contain "{other}": the dotted path of `other`
        self.loc = loc
        self.other = other  # another location the problem refers to, relative like `loc`

    def moved(self, prefix: tuple[str | int, ...]) -> _Problem:
        """Return this problem located below `prefix`."""
        other = (*prefix, *self.other) if self.other is not None else None
        return _Problem(self.message, (*prefix, *self.loc), other)


def _check_text(value: str) -> str:
    if not value:
        raise _Problem(MSG_EMPTY)
    if value != value.strip():
        raise _Problem(MSG_SURROUNDING_SPACE)
    if "\n" in value or "\r" in value:
        raise _Problem(MSG_LINE_BREAK)
    return value


def _check_optional_text(value: str) -> str:
    return _check_text(value) if value else value


def _check_day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _Problem(MSG_DAY_OUT_OF_RANGE)
    return value


def _parse_clock_time(value: object) -> object:
    """Turn "HH:MM" (24-hour) into a `time`; leave other types for pydantic to reject."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise _Problem("应为 24 小时制时间“HH:MM”，如“09:00”（加英文双引号）")
    match = re.fullmatch(r"(\d{2}):(\d{2})", value)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise _Problem(f"时间“{value}”无效，应为 24 小时制的“HH:MM”，如“09:00”")
    return time(int(match[1]), int(match[2]))


Text = Annotated[str, Strict(), AfterValidator(_check_text)]
"""One line of printed or displayed text: not empty, no surrounding space, no line break."""
OptionalText = Annotated[str, Strict(), AfterValidator(_check_optional_text)]
Key = Annotated[str, Strict(), StringConstraints(pattern=KEY_PATTERN, max_length=KEY_MAX)]
"""Stable ASCII identifier, stored in the database: do not rename once used."""
EnvName = Annotated[str, Strict(), StringConstraints(pattern=ENV_NAME_PATTERN)]
ClockTime = Annotated[time, BeforeValidator(_parse_clock_time)]
Day = Annotated[date, Strict(), AfterValidator(_check_day)]
StrictBool = Annotated[bool, Strict()]
StrictInt = Annotated[int, Strict()]
Int32 = Annotated[int, Strict(), Field(ge=INT32_MIN, le=INT32_MAX)]
WindowName = Annotated[
    str, Strict(), StringConstraints(max_length=WINDOW_NAME_MAX), AfterValidator(_check_text)
]
WindowShortName = Annotated[
    str, Strict(), StringConstraints(max_length=WINDOW_SHORT_NAME_MAX), AfterValidator(_check_text)
]


class _Section(BaseModel):
    # hide_input_in_errors: a mistyped secret must not reach a log through str(ValidationError)
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _check_unique(
    values: Iterable[object], loc: tuple[str | int, ...], field: str | None = None
) -> None:
    """Raise at the second occurrence of a value in the list at `loc` (of `field` per item)."""
    tail: tuple[str, ...] = (field,) if field else ()
    seen: dict[object, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            raise _Problem(MSG_DUPLICATE, (*loc, index, *tail), other=(*loc, seen[value]))
        seen[value] = index


def _base_dir(info: ValidationInfo) -> Path | None:
    context = info.context
    if isinstance(context, dict):
        base = context.get("base_dir")
        if isinstance(base, Path):
            return base
    return None


def _resolve_path(value: object, info: ValidationInfo) -> object:
    """Resolve a relative path string against the configuration file's directory."""
    base = _base_dir(info)
    if isinstance(value, str) and value and base is not None:
        return base / value
    return value


# --- [bulletin] ----------------------------------------------------------------------------


class SubsectionConfig(_Section):
    """A category of window news under section 二 (`[[bulletin.subsections]]`)."""

    key: Key
    title: Text


class StatisticsCategoryConfig(_Section):
    """One category of platform statistics (`[[bulletin.statistics]]`)."""

    key: Key
    label: Text


class CriterionConfig(_Section):
    """One line of the hall inspection checklist (`[[bulletin.criteria]]`)."""

    key: Key
    label: Text


class DistributionConfig(_Section):
    """The 版记 lines 报/送/发; an empty string omits its line."""

    bao: OptionalText = ""
    song: OptionalText = ""
    fa: OptionalText = ""

    def lines(self) -> tuple[tuple[str, str], ...]:
        """Return the non-empty lines as (label, text) pairs in print order."""
        pairs = (("报", self.bao), ("送", self.song), ("发", self.fa))
        return tuple((label, text) for label, text in pairs if text)


def _sentence_placeholders(categories: Sequence[StatisticsCategoryConfig]) -> list[str]:
    names = ["cum_start", "cum_end"]
    for category in categories:
        names += [f"{category.key}_accepted", f"{category.key}_completed"]
    return names


def _check_sentence(template: str, categories: Sequence[StatisticsCategoryConfig]) -> None:
    known = _sentence_placeholders(categories)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise _Problem(MSG_BRACES) from None
    used: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in known:
            available = "、".join(f"{{{n}}}" for n in known)
            raise _Problem(f"占位符 {{{name}}} 未定义；可用的占位符：{available}")
        if spec or conversion:
            raise _Problem(f"占位符 {{{name}}} 后不能带格式说明（:…）或转换（!…）")
        used.add(name)
    missing = [name for name in known[2:] if name not in used]
    if missing:
        listed = "、".join(f"{{{n}}}" for n in missing)
        raise _Problem(f"缺少占位符 {listed}；每个统计类别的受理数和办结数都要写进句子")


class BulletinConfig(_Section):
    """The bulletin's fixed wording and structure (`[bulletin]`)."""

    title: Text
    organisation: Text
    column_title: Text
    statistics_heading: Text
    statistics_sentence: Text
    news_heading: Text
    inspection_heading: Text
    inspection_intro: Text
    default_verdict: Text
    copies: Annotated[int, Strict(), Field(gt=0, le=MAX_COPIES)]
    statistics: Annotated[tuple[StatisticsCategoryConfig, ...], Field(min_length=1)]
    subsections: Annotated[tuple[SubsectionConfig, ...], Field(min_length=1)]
    criteria: Annotated[tuple[CriterionConfig, ...], Field(min_length=1)]
    distribution: DistributionConfig = Field(default_factory=DistributionConfig)

    @model_validator(mode="after")
    def _check_consistency(self) -> BulletinConfig:
        _check_unique((item.key for item in self.statistics), ("statistics",), "key")
        _check_unique((item.key for item in self.subsections), ("subsections",), "key")
        _check_unique((item.key for item in self.criteria), ("criteria",), "key")
        try:
            _check_sentence(self.statistics_sentence, self.statistics)
        except _Problem as problem:
            raise problem.moved(("statistics_sentence",)) from None
        return self

    def to_template(self) -> BulletinTemplate:
        """Return the `report` model of this configuration."""
        return BulletinTemplate(
            title=self.title,
            organisation=self.organisation,
            column_title=self.column_title,
            statistics_heading=self.statistics_heading,
            statistics_sentence=self.statistics_sentence,
            statistics_categories=tuple(
                StatisticsCategory(key=c.key, label=c.label) for c in self.statistics
            ),
            news_heading=self.news_heading,
            subsections=tuple(Subsection(key=s.key, title=s.title) for s in self.subsections),
            inspection_heading=self.inspection_heading,
            inspection_intro=self.inspection_intro,
            criteria=tuple(Criterion(key=c.key, label=c.label) for c in self.criteria),
            default_verdict=self.default_verdict,
            distribution=self.distribution.lines(),
            copies=self.copies,
        )


# --- [numbering] ---------------------------------------------------------------------------


class NumberingConfig(_Section):
    """Numbers for the first issue opened on a fresh database (`[numbering]`).

    Once an issue exists the database is the source of truth (last issue + 1, editable by
    the editor); these values are then ignored.
    """

    year: Annotated[int, Strict(), Field(ge=FIRST_YEAR, le=LAST_YEAR)]  # year of next_number
    # 第31期, restarting at 1 each year; 总第406期, never restarting
    next_number: Annotated[int, Strict(), Field(ge=1, le=MAX_NEXT_NUMBER)]
    next_total: Annotated[int, Strict(), Field(ge=1, le=MAX_NEXT_TOTAL)]

    @model_validator(mode="after")
    def _check_total(self) -> NumberingConfig:
        if self.next_total < self.next_number:
            raise _Problem(MSG_TOTAL_BELOW_NUMBER, ("next_total",))
        return self


# --- [schedule] ----------------------------------------------------------------------------


class ReminderConfig(_Section):
    """A reminder to windows that have not submitted, relative to the deadline day."""

    day_offset: Annotated[int, Strict(), Field(ge=-6, le=0)]  # working days; 0 = deadline day
    time: ClockTime


def _default_reminders() -> tuple[ReminderConfig, ...]:
    return (
        ReminderConfig(day_offset=-1, time=time(15, 0)),
        ReminderConfig(day_offset=0, time=time(9, 0)),
    )


class ScheduleConfig(_Section):
    """When issues open, remind and close (`[schedule]`), in working days."""

    timezone: Annotated[str, Strict()] = "Asia/Shanghai"
    open_time: ClockTime = time(9, 0)  # on the first working day of the week
    deadline_time: ClockTime = time(12, 0)  # on the last working day of the period
    reminders: tuple[ReminderConfig, ...] = Field(default_factory=_default_reminders)
    extra_holidays: tuple[Day, ...] = ()  # besides the official calendar
    extra_workdays: tuple[Day, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Problem(f"未知的时区“{value}”，应为 IANA 时区名，如“Asia/Shanghai”") from None
        return value

    @model_validator(mode="after")
    def _check_days(self) -> ScheduleConfig:
        # A week whose only working day is one day (a make-up Saturday, say) opens and
        # closes on that day: its deadline must come after its opening.
        if self.deadline_time <= self.open_time:
            raise _Problem(
                f"截止时间应晚于开始征集的时间 open_time（{self.open_time:%H:%M}）："
                "只有一个工作日的一周在当天开始征集、当天截止",
                ("deadline_time",),
            )
        _check_unique(((r.day_offset, r.time) for r in self.reminders), ("reminders",))
        for index, reminder in enumerate(self.reminders):
            if reminder.day_offset == 0 and reminder.time >= self.deadline_time:
                raise _Problem(
                    f"截止当天的提醒应早于截止时间 {self.deadline_time:%H:%M}",
                    ("reminders", index, "time"),
                )
        _check_unique(self.extra_holidays, ("extra_holidays",))
        _check_unique(self.extra_workdays, ("extra_workdays",))
        for index, day in enumerate(self.extra_workdays):
            if day in self.extra_holidays:
                raise _Problem(
                    f"{day.isoformat()} 同时写在 extra_holidays 里", ("extra_workdays", index)
                )
        return self

    def zone(self) -> ZoneInfo:
        """Return the timezone as a `ZoneInfo`."""
        return ZoneInfo(self.timezone)


# --- [intake] ------------------------------------------------------------------------------


class IntakeConfig(_Section):
    """What window staff may send as an item (`[intake]`)."""

    # Letters and digits an item needs (punctuation and spaces do not count): shorter texts,
    # a bare "1" or "。。", are refused at the text step as not being an item.
    min_item_chars: Annotated[int, Strict(), Field(ge=1, le=1000)] = 6


# --- [draft] -------------------------------------------------------------------------------


class DraftConfig(_Section):
    """How drafts are laid out (`[draft]`)."""

    # A PDF beside the .docx, laid out by LibreOffice where it is installed.
    pdf: Annotated[bool, Strict()] = True
    # Printed double-sided (GB/T 9704 §8), the 版记 sits on an even page.
    double_sided: Annotated[bool, Strict()] = True


# --- [[windows]] ---------------------------------------------------------------------------


class WindowConfig(_Section):
    """A department's reporting desk (`[[windows]]`)."""

    name: WindowName  # 商务厅窗口
    short_name: WindowShortName  # 商务厅
    order: Int32  # position in the bulletin and in lists; unique


# --- [storage] -----------------------------------------------------------------------------


class StorageConfig(_Section):
    """Where data lives (`[storage]`); relative paths count from the configuration file."""

    data_dir: Path = Path("data")
    url: Annotated[str, Strict()] = f"sqlite+aiosqlite:///data/{DEFAULT_DATABASE_NAME}"

    @model_validator(mode="before")
    @classmethod
    def _derive_url(cls, data: Any, info: ValidationInfo) -> Any:
        # The default database follows data_dir, so resolve data_dir first.
        if not isinstance(data, dict):
            return data
        result = dict(data)
        data_dir = _resolve_path(result.get("data_dir", "data"), info)
        if "data_dir" in result or isinstance(data_dir, Path):
            result["data_dir"] = data_dir
        if "url" not in result and isinstance(data_dir, str | Path):
            result["url"] = f"sqlite+aiosqlite:///{Path(data_dir) / DEFAULT_DATABASE_NAME}"
        return result

    @field_validator("data_dir", mode="before")
    @classmethod
    def _check_data_dir(cls, value: object) -> object:
        if value == "":
            raise _Problem(MSG_EMPTY)
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise _Problem(MSG_BAD_DATABASE_URL) from None
        if url.drivername not in ASYNC_DRIVERS:
            raise _Problem(MSG_BAD_DATABASE_URL)
        if url.password:
            raise _Problem(MSG_PASSWORD_IN_URL)
        database = url.database
        if url.drivername.startswith("sqlite") and (
            not database or database == ":memory:" or database.startswith("file:")
        ):
            raise _Problem(MSG_SQLITE_NOT_A_FILE)
        base = _base_dir(info)
        if (
            url.drivername.startswith("sqlite")
            and base is not None
            and database
            and not Path(database).is_absolute()
        ):
            return url.set(database=str(base / database)).render_as_string(hide_password=False)
        return value


# --- [channels] ----------------------------------------------------------------------------


class ConsoleChannelConfig(_Section):
    """The local console chat (`[channels.console]`)."""

    enabled: StrictBool = True


class TelegramChannelConfig(_Section):
    """Telegram (`[channels.telegram]`); the bot token comes from the environment or a file."""

    enabled: StrictBool = False
    token_env: EnvName = "ZHOUBAO_TELEGRAM_TOKEN"
    token_file: Path | None = None  # read instead of token_env when set
    mode: Literal["polling", "webhook"] = "polling"
    # Webhook mode: Telegram POSTs updates to webhook_url, which a reverse proxy forwards to
    # zhoubao's own web server at `listen`, path `webhook_path`. The secret Telegram sends
    # back in a header comes from the environment variable named by webhook_secret_env.
    webhook_url: Text | None = None  # public https URL
    webhook_secret_env: EnvName = "ZHOUBAO_TELEGRAM_WEBHOOK_SECRET"
    listen: Text = "127.0.0.1:8080"  # host:port of zhoubao's web server
    # The Bot API server: Telegram's, or a self-hosted telegram-bot-api server.
    api_url: Text = "https://api.telegram.org"
    webhook_path: Text = "/telegram/webhook"

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^\s/?#]+(/\S*)?", value):
            raise _Problem(MSG_WEBHOOK_URL)
        return value

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+", value):
            raise _Problem(MSG_BAD_API_URL)
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return _check_listen_value(value)

    @field_validator("webhook_path")
    @classmethod
    def _check_webhook_path(cls, value: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9_\-./]*", value):
            raise _Problem(MSG_WEBHOOK_PATH)
        return value

    @model_validator(mode="after")
    def _check_webhook(self) -> TelegramChannelConfig:
        if self.enabled and self.mode == "webhook" and self.webhook_url is None:
            raise _Problem(MSG_WEBHOOK_URL_REQUIRED, ("webhook_url",))
        return self

    @field_validator("token_file", mode="before")
    @classmethod
    def _resolve_token_file(cls, value: object, info: ValidationInfo) -> object:
        if value == "":
            raise _Problem(MSG_EMPTY)
        return _resolve_path(value, info)


class WechatChannelConfig(_Section):
    """WeChat through a Wechaty puppet service (`[channels.wechat]`)."""

    enabled: StrictBool = False
    endpoint: Text | None = None  # host:port of the puppet service
    token_env: EnvName = "ZHOUBAO_WECHAT_TOKEN"
    # Group chats: answer only when the bot is @-mentioned, answer every message, or ignore them.
    rooms: Literal["mention", "all", "ignore"] = "mention"

    @model_validator(mode="after")
    def _check_endpoint(self) -> WechatChannelConfig:
        if self.enabled and self.endpoint is None:
            raise _Problem(MSG_ENDPOINT_REQUIRED, ("endpoint",))
        return self


# --- [server] ------------------------------------------------------------------------------

DEFAULT_LISTEN: Final = "127.0.0.1:8080"


def _check_listen_value(value: str) -> str:
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", value)
    if match is None or not 0 < int(match[2]) < 65536:
        raise _Problem(MSG_LISTEN)
    return value


class ServerConfig(_Section):
    """zhoubao's web server (`[server]`): the Telegram webhook, /healthz, /readyz, /metrics.

    `zhoubao run` always serves it. `listen` absent: `[channels.telegram] listen`, where the
    address was set before the server served more than the webhook (127.0.0.1:8080 by default).
    """

    listen: Text | None = None

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        return None if value is None else _check_listen_value(value)


def _find_secret(data: object, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Return the location of the first secret-looking key in `data`, if any."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and (key in SECRET_KEYS or key.endswith("_token")):
                return (*loc, key)
            found = _find_secret(value, (*loc, key))
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _find_secret(value, (*loc, index))
            if found is not None:
                return found
    return None


class ChannelsConfig(_Section):
    """Which channels run (`[channels]`). Secrets are never in the file."""

    console: ConsoleChannelConfig = Field(default_factory=ConsoleChannelConfig)
    telegram: TelegramChannelConfig = Field(default_factory=TelegramChannelConfig)
    wechat: WechatChannelConfig = Field(default_factory=WechatChannelConfig)

    @model_validator(mode="before")
    @classmethod
    def _reject_secrets(cls, data: Any) -> Any:
        found = _find_secret(data)
        if found is not None:
            raise _Problem(MSG_SECRET_IN_FILE, found)
        return data

    @model_validator(mode="after")
    def _check_any_enabled(self) -> ChannelsConfig:
        if not (self.console.enabled or self.telegram.enabled or self.wechat.enabled):
            raise _Problem(MSG_NO_CHANNEL)
        return self


# --- [security] ----------------------------------------------------------------------------


class SecurityConfig(_Section):
    """What strangers (chats no member uses) may cost, and how long traces are kept."""

    # A stranger is answered at most once per this many minutes; its other messages are counted.
    stranger_reply_minutes: Annotated[int, Strict(), Field(ge=1, le=1440)] = 10
    # Sent messages, processed updates and quiet strangers are deleted after this many days;
    # items, their revisions and drafts are kept for ever.
    retention_days: Annotated[int, Strict(), Field(ge=7, le=3650)] = 90


# --- The whole file. -----------------------------------------------------------------------


class Config(_Section):
    """The whole configuration file."""

    bulletin: BulletinConfig
    numbering: NumberingConfig | None = None  # absent: the first issue is its year's 第1期
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    draft: DraftConfig = Field(default_factory=DraftConfig)
    windows: Annotated[tuple[WindowConfig, ...], Field(min_length=1)]
    storage: StorageConfig = Field(default_factory=StorageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    @model_validator(mode="before")
    @classmethod
    def _validate_storage_defaults(cls, data: Any) -> Any:
        # An absent [storage] must still resolve its paths against the file's directory.
        if isinstance(data, dict) and "storage" not in data:
            return {**data, "storage": {}}
        return data

    @model_validator(mode="after")
    def _check_windows(self) -> Config:
        _check_unique((item.name for item in self.windows), ("windows",), "name")
        _check_unique((item.short_name for item in self.windows), ("windows",), "short_name")
        _check_unique((item.order for item in self.windows), ("windows",), "order")
        return self

    @model_validator(mode="after")
    def _check_one_listen(self) -> Config:
        telegram = self.channels.telegram
        if (
            self.server.listen is not None
            and "listen" in telegram.model_fields_set
            and telegram.listen != self.server.listen
        ):
            raise _Problem(MSG_LISTEN_TWICE, ("server", "listen"))
        return self

    @property
    def listen(self) -> str:
        """host:port of zhoubao's web server: `[server] listen`, else the Telegram section's."""
        return self.server.listen or self.channels.telegram.listen

    def windows_in_order(self) -> tuple[WindowConfig, ...]:
        """Return the windows sorted by `order`."""
        return tuple(sorted(self.windows, key=lambda window: window.order))


# --- Loading and writing. ------------------------------------------------------------------


def _through_gate(value: Any) -> Any:
    """Every text of the file through the text gate, as every text that enters zhoubao."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_through_gate(key): _through_gate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_through_gate(item) for item in value]
    return value


def load_config(path: Path) -> Config:
    """Read and validate the configuration file at `path`; raise ConfigError on any problem."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(_msg_file_missing(shown), path=shown) from None
    except IsADirectoryError:
        raise ConfigError(_msg_file_unreadable(shown, MSG_NOT_A_FILE), path=shown) from None
    except PermissionError:
        raise ConfigError(_msg_file_unreadable(shown, MSG_NO_PERMISSION), path=shown) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(_msg_file_unreadable(shown, reason), path=shown) from None
    try:
        # Notepad on Windows saves UTF-8 with a byte order mark; TOML does not allow one.
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ConfigError(_msg_not_utf8(shown), path=shown) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_syntax_message(shown, str(error)), path=shown) from None
    try:
        gated = _through_gate(data)
        return Config.model_validate(gated, context={"base_dir": path.absolute().parent})
    except ValidationError as error:
        raise _validation_error(shown, error) from None


def _default_config_bytes() -> bytes:
    # Next to this module rather than importlib.resources.files("bot"): under pytest's default
    # import mode, tests/bot (no __init__.py) can shadow the package as a namespace package
    # named "bot", and files("bot") then looks in tests/bot. setuptools installs the .toml
    # beside this file (package-data), so this works for editable and wheel installs alike.
    return Path(__file__).with_name(DEFAULT_CONFIG_RESOURCE).read_bytes()


def default_config_text() -> str:
    """Return the text of the packaged default configuration."""
    return _default_config_bytes().decode("utf-8")


def write_default_config(path: Path, *, force: bool = False) -> Path | None:
    """Write the packaged default configuration to `path`.

    An existing file is never overwritten unless `force` is given; then it is first copied
    to a backup beside it, `NAME.bak-YYYYmmdd-HHMMSS` (local time; `-2`, `-3`… if that name
    is taken: no earlier backup is overwritten), and the backup's path is returned. The new
    file replaces the old one in one step and keeps its permissions (behind a symbolic link,
    the file it points to is backed up and replaced).
    """
    shown = str(path)
    content = _default_config_bytes()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if force and (path.exists() or path.is_symlink()):
            if not path.is_file():
                raise ConfigError(_msg_unwritable(shown, MSG_NOT_A_FILE), path=shown)
            target = path.resolve() if path.is_symlink() else path  # the link stays a link
            backup = _back_up(target)
            _replace(target, content)
            return backup
        with path.open("xb") as stream:  # "x": fail rather than overwrite, even in a race
            stream.write(content)
    except FileExistsError:
        raise ConfigError(_msg_exists(shown), path=shown) from None
    except PermissionError:
        raise ConfigError(_msg_unwritable(shown, MSG_NO_WRITE_PERMISSION), path=shown) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(_msg_unwritable(shown, reason), path=shown) from None
    return None


def _back_up(path: Path) -> Path:
    """Copy `path` to a backup file beside it that did not exist before; return its path."""
    stamp = datetime.now(UTC).astimezone().strftime("%Y%m%d-%H%M%S")
    base = path.with_name(f"{path.name}.bak-{stamp}")
    backup, attempt = base, 1
    while True:
        try:
            with backup.open("xb") as stream:  # "x": never overwrite an earlier backup
                stream.write(path.read_bytes())
        except FileExistsError:
            attempt += 1
            backup = base.with_name(f"{base.name}-{attempt}")
            continue
        shutil.copystat(path, backup)
        return backup


def _replace(path: Path, content: bytes) -> None:
    """Replace the file at `path` with `content` in one step, keeping its permissions."""
    temporary = path.with_name(f".{path.name}.new")
    try:
        with temporary.open("wb") as stream:
            stream.write(content)
        shutil.copymode(path, temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


# --- Error translation. --------------------------------------------------------------------

_MAX_LISTED_ERRORS: Final = 10


def _syntax_message(shown: str, message: str) -> str:
    match = re.fullmatch(r"(.*) \(at (?:line (\d+), column (\d+)|(end of document))\)", message)
    if match is None:
        return _msg_syntax(shown, "", _translate_toml(message))
    problem, line, column, at_end = match.groups()
    where = "末尾" if at_end else f"第 {line} 行第 {column} 列"
    return _msg_syntax(shown, where, _translate_toml(problem))


def _translate_toml(problem: str) -> str:
    # tomllib shows a key as a tuple repr: ('bulletin', 'criteria') → bulletin.criteria
    problem = re.sub(r"\(((?:'[^'\\]*', )*'[^'\\]*'),?\)", _dotted_tuple, problem)
    for pattern, chinese in _TOML_PROBLEMS:
        match = re.fullmatch(pattern, problem)
        if match is not None:
            return match.expand(chinese) if match.re.groups else chinese
    return problem  # tomllib's own English wording; better than nothing


def _dotted_tuple(match: re.Match[str]) -> str:
    return ".".join(part.strip("'") for part in match[1].split(", "))


def _validation_error(shown: str, error: ValidationError) -> ConfigError:
    described = [_describe(detail) for detail in error.errors(include_input=False)]
    unique = list(dict.fromkeys(described))
    first_key = unique[0][0]
    if len(unique) == 1:
        key, problem = unique[0]
        return ConfigError(_msg_invalid(shown, key, problem), path=shown, key=key)
    listed = unique[:_MAX_LISTED_ERRORS]
    message = _msg_invalid_many(shown, listed, len(unique) - len(listed))
    return ConfigError(message, path=shown, key=first_key)


def _describe(detail: ErrorDetails) -> tuple[str, str]:
    """Return (dotted key path, Chinese problem) for one pydantic error."""
    loc: tuple[str | int, ...] = tuple(detail["loc"])
    context = detail.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, _Problem):
        located = cause.moved(loc)
        message = located.message
        if located.other is not None:
            message = message.format(other=_dotted(located.other))
        return _dotted(located.loc), message
    return _dotted(loc), _translate(detail, loc)


def _translate(detail: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    if kind == "missing":
        return MSG_MISSING
    if kind == "extra_forbidden":
        return _unknown_key_problem(loc)
    if kind in _TYPE_PROBLEMS:
        return _TYPE_PROBLEMS[kind]
    if kind == "string_pattern_mismatch":
        pattern = context.get("pattern")
        if pattern == KEY_PATTERN:
            return MSG_BAD_KEY
        if pattern == ENV_NAME_PATTERN:
            return MSG_BAD_ENV_NAME
        return f"格式不对，应符合 {pattern}"
    if kind == "literal_error":
        expected = str(context.get("expected", "")).replace("'", '"').replace(" or ", " 或 ")
        return f"应为 {expected}"
    if kind == "too_short":
        return f"至少要有 {context.get('min_length')} 项"
    if kind == "string_too_long":
        return f"不能超过 {context.get('max_length')} 个字符"
    if kind == "greater_than":
        return f"应大于 {context.get('gt')}"
    if kind == "greater_than_equal":
        return f"应不小于 {context.get('ge')}"
    if kind == "less_than":
        return f"应小于 {context.get('lt')}"
    if kind == "less_than_equal":
        return f"应不大于 {context.get('le')}"
    return detail["msg"].removeprefix("Value error, ")


def _unknown_key_problem(loc: tuple[str | int, ...]) -> str:
    allowed = _allowed_keys(loc[:-1])
    name = loc[-1] if loc else ""
    if not allowed or not isinstance(name, str):
        return MSG_UNKNOWN_KEY
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"{MSG_UNKNOWN_KEY}，是否应为 {close[0]}？"
    return f"{MSG_UNKNOWN_KEY}；此处可用：{'、'.join(allowed)}"


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Return the field names of the section at `loc`, or [] if it cannot be found."""
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        found = _model_in(field.annotation) if field is not None else None
        if found is None:
            return []
        model = found
    return list(model.model_fields)


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _dotted(loc: Sequence[str | int]) -> str:
    """Format a location for the administrator: dotted keys, list entries counted from 1.

    ("windows", 5, "short_name") → "windows 第 6 项的 short_name" (the sixth [[windows]]);
    ("schedule", "extra_holidays", 0) → "schedule.extra_holidays 第 1 项".
    """
    text = ""
    after_entry = False
    for part in loc:
        if isinstance(part, int):
            text += f" 第 {part + 1} 项" if text else f"第 {part + 1} 项"
            after_entry = True
            continue
        name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
        if after_entry:
            text += f"的 {name}"
        else:
            text += f".{name}" if text else name
        after_entry = False
    return text
