"""argparse's own words in Chinese: the usage line, the headings, -h/--help and the errors.

argparse looks each of its strings up when it uses it, through the names `_` and `ngettext`
of its own module (`from gettext import gettext as _, ngettext`). Importing this module
replaces those two names, once, with lookups that answer from `MESSAGES` while a
`ChineseArgumentParser` is at work (a context variable says so) and defer to gettext
otherwise: another parser in the same process (a test's, a library's) keeps argparse's wording.

`ChineseArgumentParser` sets that variable around everything of argparse that produces text
(building the parser and its -h option, parsing, formatting usage and help, reporting an
error), and formats help with `ChineseHelpFormatter`, which ends headings with a full-width
colon on every Python version (3.13 looks the heading's colon up; 3.11 and 3.12 hard-code
it). Subcommands' parsers are created by argparse with the parent's class, so the whole
command tree speaks Chinese. The message ids are those of Python 3.11, 3.12 and 3.13 (and
3.14's "maybe you meant"); tests/bot/test_cli_text.py checks that every id of the running
Python is translated or listed there as a programming error nobody running zhoubao can see.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Final, NoReturn

from bot import messages

# argparse's message ids (the English text it passes to `_`) and their Chinese.
MESSAGES: Final[dict[str, str]] = {
    # help
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "optional arguments": "选项",  # Python 3.9 and earlier
    "subcommands": "子命令",
    "%(heading)s:": "%(heading)s：",  # 3.13
    "show this help message and exit": "显示本帮助并退出",
    "show program's version number and exit": "显示版本号并退出",
    " (default: %(default)s)": "（默认：%(default)s）",  # 3.13
    # errors
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "%(prog)s: warning: %(message)s\n": "%(prog)s：警告：%(message)s\n",  # 3.13
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "the following arguments are required: %s": "缺少必填的参数：%s",
    "one of the arguments %s is required": "以下参数须给出其中一个：%s",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "无效的取值 %(value)r（可选：%(choices)s）"
    ),
    "invalid choice: %(value)r, maybe you meant %(closest)r? (choose from %(choices)s)": (
        "无效的取值 %(value)r，是否应为 %(closest)r？（可选：%(choices)s）"  # 3.14
    ),
    "invalid %(type)s value: %(value)r": "无效的取值 %(value)r",
    "expected one argument": "此处要跟一个值",
    "expected at most one argument": "此处最多跟一个值",
    "expected at least one argument": "此处至少要跟一个值",
    "ambiguous option: %(option)s could match %(matches)s": (
        "选项 %(option)s 不明确，可能是 %(matches)s"
    ),
    "ignored explicit argument %r": "此选项不带值，却给了 %r",
    "unknown parser %(parser_name)r (choices: %(choices)s)": (
        "未知的命令 %(parser_name)r（可选：%(choices)s）"
    ),
    "unexpected option string: %s": "此处不应有选项 %s",
    "can't open '%(filename)s': %(error)s": "无法打开“%(filename)s”：%(error)s",
    "argument '%(argument_name)s' is deprecated": "参数“%(argument_name)s”已弃用",  # 3.13
    "option '%(option)s' is deprecated": "选项“%(option)s”已弃用",  # 3.13
    "command '%(parser_name)s' is deprecated": "命令“%(parser_name)s”已弃用",  # 3.13
}
# argparse's plural message ids (singular, plural) and their Chinese, which has no plural.
PLURAL_MESSAGES: Final[dict[tuple[str, str], str]] = {
    ("expected %s argument", "expected %s arguments"): "此处要跟 %s 个值",
}

_chinese: ContextVar[bool] = ContextVar("zhoubao_argparse_in_chinese", default=False)

# What argparse looked its strings up with before this module was imported.
_plain_gettext: Callable[[str], str] = argparse._  # type: ignore[attr-defined]
_plain_ngettext: Callable[[str, str, int], str] = argparse.ngettext  # type: ignore[attr-defined]


def _gettext(message: str) -> str:
    if _chinese.get():
        return MESSAGES.get(message, message)
    return _plain_gettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    if _chinese.get():
        translated = PLURAL_MESSAGES.get((singular, plural))
        if translated is not None:
            return translated
        return singular if count == 1 else plural
    return _plain_ngettext(singular, plural, count)


argparse._ = _gettext  # type: ignore[attr-defined]
argparse.ngettext = _ngettext  # type: ignore[attr-defined]


@contextlib.contextmanager
def in_chinese() -> Iterator[None]:
    """argparse speaks Chinese inside this block (in this thread or task only)."""
    token = _chinese.set(True)
    try:
        yield
    finally:
        _chinese.reset(token)


class ChineseHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout for Chinese text: columns by display width, headings end in "："."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headings: list[str] = []

    # argparse pads by len(), but a Chinese character takes two columns: in a metavar and in
    # the "用法：" prefix each is followed by an invisible joiner while the layout is computed,
    # and format_help drops them. Help text is wrapped by columns here (see `wrap`).

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[Any],
        prefix: str | None = None,
    ) -> None:
        if prefix is None:
            prefix = _widen(_gettext("usage: "))
        super().add_usage(usage, actions, groups, prefix)

    def _metavar_formatter(
        self, action: argparse.Action, default_metavar: str
    ) -> Callable[[int], tuple[str, ...]]:
        metavars = super()._metavar_formatter(action, default_metavar)
        # add_argument probes the layout with default_metavar=None: leave non-strings be.
        return lambda count: tuple(
            _widen(metavar) if isinstance(metavar, str) else metavar for metavar in metavars(count)
        )

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))

    def start_section(self, heading: str | None) -> None:
        if heading:
            self._headings.append(heading)
        super().start_section(heading)

    def format_help(self) -> str:
        text = super().format_help().replace(_JOINER, "")
        for heading in self._headings:  # 3.11 and 3.12 write the ":" themselves
            text = text.replace(f"\n{heading}:\n", f"\n{heading}：\n")
        return text


_JOINER: Final = "\u2060"  # WORD JOINER: zero width, and not whitespace to argparse
_NO_BREAK_BEFORE: Final = frozenset("，。、；：？！）》」』】”’…")
_NO_BREAK_AFTER: Final = frozenset("（《「『【“‘")


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


def columns(text: str) -> int:
    """How many terminal columns `text` takes: two for a Chinese character, one otherwise."""
    return sum(2 if _wide(char) else 1 for char in text)


def _widen(text: str) -> str:
    """`text` with a joiner after each wide character, so that len() counts columns."""
    return "".join(f"{char}{_JOINER}" if _wide(char) else char for char in text)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns, as argparse wraps help text, but for Chinese.

    Whitespace runs become one space. A line may break at a space (which is dropped) or next
    to a Chinese character, never before closing punctuation nor after an opening one. A run
    of other characters (a word, a path, a URL) is never cut, so it may overflow alone.
    """
    pieces: list[str] = []  # the units that stay on one line, with " " between words
    for token in re.findall(r" |[^ ]", " ".join(text.split())):
        last = pieces[-1] if pieces else " "
        glued = last != " " and token != " " and not _wide(token) and not _wide(last[-1])
        if glued or token in _NO_BREAK_BEFORE or (last[-1] in _NO_BREAK_AFTER and token != " "):
            pieces[-1] += token
        else:
            pieces.append(token)
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if piece == " ":
            line += " " if line else ""
        elif line and columns(line) + columns(piece) > width:
            lines.append(line.rstrip(" "))
            line = piece
        else:
            line += piece
    if line.strip(" "):
        lines.append(line.rstrip(" "))
    return lines


class ChineseArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage, help and errors are in Chinese; subparsers inherit it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", ChineseHelpFormatter)
        with in_chinese():  # the headings and the -h option's help are looked up here
            super().__init__(*args, **kwargs)

    def add_subparsers(self, *args: Any, **kwargs: Any) -> Any:
        with in_chinese():
            return super().add_subparsers(*args, **kwargs)

    def parse_args(self, *args: Any, **kwargs: Any) -> Any:
        with in_chinese():
            return super().parse_args(*args, **kwargs)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        with in_chinese():
            return super().parse_known_args(*args, **kwargs)

    def parse_intermixed_args(self, *args: Any, **kwargs: Any) -> Any:
        with in_chinese():
            return super().parse_intermixed_args(*args, **kwargs)

    def parse_known_intermixed_args(self, *args: Any, **kwargs: Any) -> Any:
        with in_chinese():
            return super().parse_known_intermixed_args(*args, **kwargs)

    def format_usage(self) -> str:
        with in_chinese():
            return super().format_usage()

    def format_help(self) -> str:
        with in_chinese():
            return super().format_help()

    def error(self, message: str) -> NoReturn:
        with in_chinese():
            super().error(message)


def positive_int(value: str) -> int:
    """argparse type: a whole number from 1, refused in Chinese otherwise."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(messages.NOT_POSITIVE_INT.format(value=value))
    return number
