"""What the configuration tells the administrator (Chinese): every problem with the file.

The modules of `bot.config` raise these texts; none of them writes its own wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from typing import Final

from bot.config.bounds import FIRST_YEAR, LAST_YEAR

# --- The file. -------------------------------------------------------------------------------


def file_missing(path: str) -> str:
    return f"配置文件 {path} 不存在；可用 zhoubao init 生成一份默认配置"


def file_unreadable(path: str, reason: str) -> str:
    return f"配置文件 {path} 无法读取：{reason}"


def not_utf8(path: str) -> str:
    return f"配置文件 {path} 不是 UTF-8 编码，请用 UTF-8 保存"


def syntax(path: str, where: str, problem: str) -> str:
    place = f" {where}" if where else ""
    return f"配置文件 {path}{place}：TOML 语法错误：{problem}"


def invalid(path: str, key: str, problem: str) -> str:
    if not key:
        return f"配置文件 {path} 有误：{problem}"
    return f"配置文件 {path} 有误：{key}：{problem}"


def invalid_many(path: str, lines: Sequence[tuple[str, str]], more: int) -> str:
    body = "".join(f"\n  {key}：{problem}" if key else f"\n  {problem}" for key, problem in lines)
    tail = f"\n  ……另有 {more} 处" if more else ""
    return f"配置文件 {path} 有 {len(lines) + more} 处错误：{body}{tail}"


def exists(path: str) -> str:
    return (
        f"配置文件 {path} 已存在，未覆盖；如要重新生成默认配置，"
        "请运行 zhoubao init --force（原文件会先备份）"
    )


def unwritable(path: str, reason: str) -> str:
    return f"配置文件 {path} 无法写入：{reason}"


NOT_A_FILE: Final = "这是一个目录，不是文件"
NO_PERMISSION: Final = "没有读取权限"
NO_WRITE_PERMISSION: Final = "没有写入权限"
MISSING: Final = "缺少此项"
UNKNOWN_KEY: Final = "未知的配置项"
EMPTY: Final = "不能为空"
SURROUNDING_SPACE: Final = "首尾不能有空白（多行字符串请在行尾用 \\ 续行）"
LINE_BREAK: Final = "不能换行（多行字符串请在行尾用 \\ 续行）"
BAD_KEY: Final = "应以小写英文字母开头，只含小写英文字母、数字和下划线，如 business_environment"
BAD_ENV_NAME: Final = "应为环境变量名（英文字母、数字和下划线），如 ZHOUBAO_TELEGRAM_TOKEN"
SECRET_IN_FILE: Final = (
    "密钥不能写在配置文件里；请把它放进环境变量并用 token_env 写变量名，"
    "或放进单独的文件并用 token_file 写文件路径"
)
NO_CHANNEL: Final = "至少要启用一个渠道（console、telegram、wechat、wecom 或 dingtalk）"
WECOM_REQUIRED: Final = "启用 wecom 时必须填写"
DINGTALK_REQUIRED: Final = "启用 dingtalk 时必须填写"
BAD_BASE_URL: Final = "应为服务器地址，如 https://qyapi.weixin.qq.com"
ENDPOINT_REQUIRED: Final = "启用 wechat 时必须填写"
WEBHOOK_URL: Final = (
    "应为公网可访问的 https 地址，如 https://zhoubao.example.gov.cn/telegram/webhook"
)
WEBHOOK_URL_REQUIRED: Final = "telegram 使用 webhook 模式时必须填写"
LISTEN: Final = "应为“主机:端口”，如 127.0.0.1:8080"
LISTEN_TWICE: Final = (
    "与 [channels.telegram] listen 不同；网页服务只有一个地址，请只在 [server] 中写 listen"
)
WEBHOOK_PATH: Final = "应以 / 开头，只含英文字母、数字和 _ - . /，如 /telegram/webhook"
BRACES: Final = "花括号不配对；要在文字中写花括号本身，请写成 {{ 或 }}"
BAD_API_URL: Final = "应为 Bot API 服务器的地址，如 https://api.telegram.org"
PASSWORD_IN_URL: Final = (
    "数据库密码不能写在配置文件里；请去掉地址中的密码，改用环境变量 PGPASSWORD 或 ~/.pgpass"
)
SQLITE_NOT_A_FILE: Final = (
    "SQLite 数据库必须是一个文件，例如 sqlite+aiosqlite:///data/zhoubao.sqlite3"
)
BAD_DATABASE_URL: Final = (
    "不是有效的数据库地址，应如 sqlite+aiosqlite:///data/zhoubao.sqlite3"
    " 或 postgresql+asyncpg://用户名@主机/库名"
)
DUPLICATE: Final = "与 {other}重复"  # {other} ends in "第 N 项"
TOTAL_BELOW_NUMBER: Final = "总期号不能小于当年期号 next_number"
DAY_OUT_OF_RANGE: Final = f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间"

TYPE_PROBLEMS: Final[dict[str, str]] = {
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
    "string_too_short": EMPTY,
}

# tomllib's messages (Python 3.11), without the "(at line …)" suffix.
TOML_PROBLEMS: Final[tuple[tuple[str, str], ...]] = (
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


# --- Values of particular keys. -------------------------------------------------------------

CLOCK_TIME_TYPE: Final = "应为 24 小时制时间“HH:MM”，如“09:00”（加英文双引号）"


def bad_clock_time(value: str) -> str:
    return f"时间“{value}”无效，应为 24 小时制的“HH:MM”，如“09:00”"


def unknown_placeholder(name: str, known: Sequence[str]) -> str:
    available = "、".join(f"{{{n}}}" for n in known)
    return f"占位符 {{{name}}} 未定义；可用的占位符：{available}"


def formatted_placeholder(name: str) -> str:
    return f"占位符 {{{name}}} 后不能带格式说明（:…）或转换（!…）"


def missing_placeholders(names: Sequence[str]) -> str:
    listed = "、".join(f"{{{n}}}" for n in names)
    return f"缺少占位符 {listed}；每个统计类别的受理数和办结数都要写进句子"


def unknown_timezone(value: str) -> str:
    return f"未知的时区“{value}”，应为 IANA 时区名，如“Asia/Shanghai”"


def deadline_not_after_open(open_time: time) -> str:
    return (
        f"截止时间应晚于开始征集的时间 open_time（{open_time:%H:%M}）："
        "只有一个工作日的一周在当天开始征集、当天截止"
    )


def reminder_not_before_deadline(deadline_time: time) -> str:
    return f"截止当天的提醒应早于截止时间 {deadline_time:%H:%M}"


def workday_also_holiday(day: date) -> str:
    return f"{day.isoformat()} 同时写在 extra_holidays 里"


# --- pydantic's checks, and where a problem is. ----------------------------------------------

AT_END: Final = "末尾"


def at_line(line: str, column: str) -> str:
    return f"第 {line} 行第 {column} 列"


def not_matching(pattern: object) -> str:
    return f"格式不对，应符合 {pattern}"


def expected_one_of(expected: str) -> str:
    """pydantic's "'a' or 'b'" as "应为 "a" 或 "b"."""
    listed = expected.replace("'", '"').replace(" or ", " 或 ")
    return f"应为 {listed}"


def too_few_entries(count: object) -> str:
    return f"至少要有 {count} 项"


def too_long(count: object) -> str:
    return f"不能超过 {count} 个字符"


def greater_than(bound: object) -> str:
    return f"应大于 {bound}"


def not_less_than(bound: object) -> str:
    return f"应不小于 {bound}"


def less_than(bound: object) -> str:
    return f"应小于 {bound}"


def not_greater_than(bound: object) -> str:
    return f"应不大于 {bound}"


def unknown_key_like(close: str) -> str:
    return f"{UNKNOWN_KEY}，是否应为 {close}？"


def unknown_key_here(allowed: Sequence[str]) -> str:
    return f"{UNKNOWN_KEY}；此处可用：{'、'.join(allowed)}"


def entry(index: int) -> str:
    """The `index`-th entry (from 0) of a list, as the administrator counts: 第 1 项."""
    return f"第 {index + 1} 项"


def of_entry(name: str) -> str:
    """A key of a list's entry, after `entry`: 的 short_name."""
    return f"的 {name}"
