"""argparse's own words in Chinese: every command's --help and the usage errors have no English.

The checks run on the real parser (`bot.cli.build_parser`) and on whatever Python runs the
tests, so a Python that adds or rewords an argparse message fails here until it is translated.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from collections.abc import Iterator

import pytest

from bot.cli import build_parser, main
from bot.cli_text import MESSAGES, PLURAL_MESSAGES, ChineseArgumentParser, columns, wrap

# ASCII words zhoubao's help may show besides command names, option names and choices, which
# come from the parser: names of programs, formats and settings, metavars, placeholders.
ALLOWED_WORDS = frozenset(
    {
        "zhoubao",
        "zhoubao.toml",
        "ZHOUBAO_CONFIG",
        "YYYY-MM-DD",
        "URL",
        "Word",
        "Markdown",
        "JSON",
        "CI",
        "PostgreSQL",
        "postgresql+asyncpg://",
        "drafts",  # the directory's name
        "turns",  # a benchmark's name
    }
)
# argparse's messages that only a programmer can provoke (building a parser wrongly): they stay
# in English. Every other message of the running Python's argparse must be in MESSAGES.
PROGRAMMING_ERRORS = frozenset(
    {
        "'required' is an invalid argument for positionals",
        "%r is not callable",
        ".__call__() not defined",
        'argument "-" with mode %r',
        "cannot have multiple subparser arguments",
        "cannot merge actions - two groups are named %r",
        "conflicting subparser alias: %s",
        "conflicting subparser: %s",
        "dest= is required for options like %r",
        "invalid conflict_resolution value: %r",
        "invalid option string %(option)r: must start with a character %(prefix_chars)r",
        "mutually exclusive arguments must be optional",
        ("conflicting option string: %s", "conflicting option strings: %s"),
    }
)
# Usage errors: the arguments, and what of them the message may echo back.
USAGE_ERRORS: tuple[tuple[list[str], set[str]], ...] = (
    ([], set()),  # no command
    (["foo"], {"foo"}),  # an unknown command
    (["issue"], set()),  # no subcommand
    (["issue", "close"], {"close"}),
    (["chat"], set()),  # a required option missing
    (["invite", "--role", "x"], {"x"}),  # not one of the choices
    (["status", "--bogus"], {"--bogus"}),  # an unknown option
    (["status", "extra"], {"extra"}),  # an unexpected argument
    (["issue", "open", "--number", "x"], {"x"}),  # not a number
    (["issue", "open", "--total", "0"], set()),
    (["issue", "number", "--number", "-3"], set()),
    (["issue", "open", "--date"], set()),  # an option without its value
    (["demo", "--quiet=yes"], {"yes"}),  # a value for a flag
)


def _command_paths(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield path
    for action in parser._actions:  # argparse keeps its tree in private attributes
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_paths(sub, (*path, name))


def _parser_words(parser: argparse.ArgumentParser) -> set[str]:
    """The command names, option names and choices of `parser` and its subcommands."""
    words = {"-h", "--help"}
    for action in parser._actions:
        words.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.add(name)
                words |= _parser_words(sub)
        elif action.choices is not None:
            words.update(str(choice) for choice in action.choices)
    return words


def english_words(text: str, allowed: set[str]) -> list[str]:
    """The runs of ASCII letters in `text` (with - _ . + / inside) that are not allowed."""
    found = re.findall(r"-*[A-Za-z][A-Za-z0-9_.+/-]*(?:://)?", text)
    return [word for word in found if word not in allowed]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


@pytest.fixture(autouse=True)
def _terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


# --- the real parser ------------------------------------------------------------------------


def test_every_help_is_chinese_when_each_command_is_asked_for_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    allowed = ALLOWED_WORDS | _parser_words(build_parser())
    paths = list(_command_paths(build_parser()))
    assert len(paths) > 10, paths

    for path in paths:
        code, out, err = _run([*path, "--help"], capsys)

        assert (code, err) == (0, ""), path
        assert out.startswith(f"用法：zhoubao {' '.join(path)}".rstrip() + " "), out
        assert "选项：\n  -h, --help" in out and "显示本帮助并退出" in out, out
        assert english_words(out, allowed) == [], (path, out)


@pytest.mark.parametrize(("argv", "echoed"), USAGE_ERRORS, ids=lambda value: repr(value))
def test_usage_error_is_chinese_and_exits_2_when_arguments_are_wrong(
    argv: list[str], echoed: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    allowed = ALLOWED_WORDS | _parser_words(build_parser()) | echoed

    code, out, err = _run(argv, capsys)

    assert (code, out) == (2, "")
    *usage, error, end = err.split("\n")
    assert usage[0].startswith("用法：zhoubao ")
    assert re.fullmatch(r"zhoubao[ a-z]*：错误：\S.*", error), error
    assert end == ""
    assert english_words(err, allowed) == [], err


def test_ambiguous_abbreviation_is_chinese_and_exits_2_when_two_options_share_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No command of zhoubao has two options that one abbreviation could mean; a parser of its
    # kind with two such options stands in.
    parser = ChineseArgumentParser(prog="zhoubao")
    parser.add_argument("--out", metavar="目录", help="输出目录")
    parser.add_argument("--only", metavar="名称", help="只运行这一项")
    allowed = ALLOWED_WORDS | _parser_words(parser) | {"--o", "x"}

    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--o", "x"])
    out, err = capsys.readouterr()

    assert (exited.value.code, out) == (2, "")
    *usage, error, end = err.split("\n")
    assert usage[0].startswith("用法：zhoubao ")
    assert re.fullmatch(r"zhoubao[ a-z]*：错误：\S.*", error), error
    assert end == ""
    assert english_words(err, allowed) == [], err


def test_usage_errors_say_what_is_wrong_when_arguments_are_wrong(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def error_line(*argv: str) -> str:
        return _run(list(argv), capsys)[2].splitlines()[-1]

    assert error_line("chat") == "zhoubao chat：错误：缺少必填的参数：--as"
    assert error_line("foo").startswith("zhoubao：错误：参数 命令：无效的取值 'foo'（可选：'init'")
    assert error_line("invite", "--role", "x") == (
        "zhoubao invite：错误：参数 --role：无效的取值 'x'"
        "（可选：'staff', 'editor', 'inspector', 'admin'）"
    )
    assert error_line("status", "--bogus") == "zhoubao：错误：无法识别的参数：--bogus"
    assert error_line("issue", "open", "--number", "x") == (
        "zhoubao issue open：错误：参数 --number：“x”不是正整数"
    )


def test_help_columns_line_up_when_metavars_are_chinese(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for path in _command_paths(build_parser()):
        out = _run([*path, "--help"], capsys)[1]
        starts = set()
        for line in out.splitlines():
            item = re.match(r"( {2}| {4})(\S+(?: \S+)*) {2,}(?=\S)", line)
            if item is not None:
                starts.add(columns(item[0]))

        assert len(starts) == 1, (path, out)


def test_long_help_wraps_within_the_terminal_when_it_is_narrow(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "50")

    out = _run(["--help"], capsys)[1]

    # argparse leaves 2 columns spare; a path or URL alone on its line may overflow
    assert all(columns(line) <= 48 for line in out.splitlines() if " " in line.strip()), out
    assert not any(line.lstrip().startswith(("，", "。", "）", "、")) for line in out.splitlines())


# --- the translation itself -----------------------------------------------------------------


def _argparse_messages() -> set[str | tuple[str, str]]:
    """The message ids argparse of the running Python passes to `_` and `ngettext`."""
    found: set[str | tuple[str, str]] = set()
    for node in ast.walk(ast.parse(inspect.getsource(argparse))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        texts = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
        if node.func.id == "_" and texts and isinstance(texts[0], str):
            found.add(texts[0])
        elif node.func.id == "ngettext" and len(texts) >= 2:
            found.add((str(texts[0]), str(texts[1])))
    return found


def test_every_message_of_argparse_is_translated_when_a_user_can_see_it() -> None:
    messages = _argparse_messages()
    assert "usage: " in messages and "the following arguments are required: %s" in messages

    untranslated = messages - set(MESSAGES) - set(PLURAL_MESSAGES) - PROGRAMMING_ERRORS

    assert untranslated == set()


def _placeholders(text: str) -> tuple[list[str], set[str]]:
    found = re.findall(r"%(?:\((\w+)\))?[sdr]", text)
    return [name for name in found if not name], {name for name in found if name}


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_translation_takes_the_same_arguments_when_argparse_formats_it(message: str) -> None:
    positional, named = _placeholders(message)
    chinese_positional, chinese_named = _placeholders(MESSAGES[message])

    assert chinese_positional == positional
    assert chinese_named <= named  # "invalid %(type)s value" leaves out argparse's type name
    assert english_words(re.sub(r"%(\(\w+\))?[sdr]", "", MESSAGES[message]), set()) == []


def test_other_parsers_keep_english_when_zhoubao_parser_is_loaded() -> None:
    plain = argparse.ArgumentParser(prog="other")
    plain.add_argument("--size", type=int, required=True)
    chinese = ChineseArgumentParser(prog="zhoubao")

    assert "usage: other" in plain.format_help()
    assert "show this help message and exit" in plain.format_help()
    assert chinese.format_usage().startswith("用法：zhoubao")
    assert plain.format_usage().startswith("usage: other")


@pytest.mark.parametrize("method", ["parse_args", "parse_intermixed_args"])
def test_unrecognized_arguments_are_reported_in_chinese_when_any_parse_method_is_used(
    method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = ChineseArgumentParser(prog="zhoubao")

    with pytest.raises(SystemExit) as exited:
        getattr(parser, method)(["--bogus"])

    assert exited.value.code == 2
    assert capsys.readouterr().err == "用法：zhoubao [-h]\nzhoubao：错误：无法识别的参数：--bogus\n"


def test_checker_finds_argparse_english_when_parser_is_plain() -> None:
    plain = argparse.ArgumentParser(prog="zhoubao")
    plain.add_argument("--config", metavar="文件", help="配置文件路径")

    assert english_words(plain.format_help(), ALLOWED_WORDS | {"-h", "--help", "--config"}) == [
        "usage",
        "options",
        "show",
        "this",
        "help",
        "message",
        "and",
        "exit",
    ]


# --- wrapping ---------------------------------------------------------------------------------


def test_wrap_breaks_between_chinese_characters_when_line_is_too_long() -> None:
    text = "启动服务：按工作日历自动开启每期、催报、截止并把草稿发给编辑。"

    lines = wrap(text, 20)

    assert lines == ["启动服务：按工作日历", "自动开启每期、催报、", "截止并把草稿发给编", "辑。"]


def test_wrap_keeps_words_and_punctuation_together_when_breaking() -> None:
    lines = wrap("可建临时库的 PostgreSQL 地址（postgresql+asyncpg://…）", 30)

    assert lines == ["可建临时库的 PostgreSQL 地址", "（postgresql+asyncpg://…）"]


def test_wrap_collapses_whitespace_when_text_has_line_breaks() -> None:
    assert wrap("  例：zhoubao  issue\n open  ", 80) == ["例：zhoubao issue open"]
    assert wrap("", 80) == []


def test_an_option_without_metavar_can_be_added_and_shows_its_default_name() -> None:
    parser = ChineseArgumentParser(prog="zhoubao")
    parser.add_argument("--year", type=int, help="年份")

    assert "--year YEAR" in parser.format_help()
