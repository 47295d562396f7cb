"""pydantic's and tomllib's errors as one `ConfigError` in Chinese, naming the key."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Final, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.config import messages
from bot.config.bounds import ENV_NAME_PATTERN, KEY_PATTERN
from bot.config.fields import Problem
from bot.config.model import Config
from bot.errors import ConfigError

_MAX_LISTED_ERRORS: Final = 10


def syntax_message(shown: str, message: str) -> str:
    match = re.fullmatch(r"(.*) \(at (?:line (\d+), column (\d+)|(end of document))\)", message)
    if match is None:
        return messages.syntax(shown, "", _translate_toml(message))
    problem, line, column, at_end = match.groups()
    where = messages.AT_END if at_end else messages.at_line(line, column)
    return messages.syntax(shown, where, _translate_toml(problem))


def _translate_toml(problem: str) -> str:
    # tomllib shows a key as a tuple repr: ('bulletin', 'criteria') → bulletin.criteria
    problem = re.sub(r"\(((?:'[^'\\]*', )*'[^'\\]*'),?\)", _dotted_tuple, problem)
    for pattern, chinese in messages.TOML_PROBLEMS:
        match = re.fullmatch(pattern, problem)
        if match is not None:
            return match.expand(chinese) if match.re.groups else chinese
    return problem  # tomllib's own English wording; better than nothing


def _dotted_tuple(match: re.Match[str]) -> str:
    return ".".join(part.strip("'") for part in match[1].split(", "))


def validation_error(shown: str, error: ValidationError) -> ConfigError:
    described = [_describe(detail) for detail in error.errors(include_input=False)]
    unique = list(dict.fromkeys(described))
    first_key = unique[0][0]
    if len(unique) == 1:
        key, problem = unique[0]
        return ConfigError(messages.invalid(shown, key, problem), path=shown, key=key)
    listed = unique[:_MAX_LISTED_ERRORS]
    message = messages.invalid_many(shown, listed, len(unique) - len(listed))
    return ConfigError(message, path=shown, key=first_key)


def _describe(detail: ErrorDetails) -> tuple[str, str]:
    """Return (dotted key path, Chinese problem) for one pydantic error."""
    loc: tuple[str | int, ...] = tuple(detail["loc"])
    context = detail.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, Problem):
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
        return messages.MISSING
    if kind == "extra_forbidden":
        return _unknown_key_problem(loc)
    if kind in messages.TYPE_PROBLEMS:
        return messages.TYPE_PROBLEMS[kind]
    if kind == "string_pattern_mismatch":
        pattern = context.get("pattern")
        if pattern == KEY_PATTERN:
            return messages.BAD_KEY
        if pattern == ENV_NAME_PATTERN:
            return messages.BAD_ENV_NAME
        return messages.not_matching(pattern)
    if kind == "literal_error":
        return messages.expected_one_of(str(context.get("expected", "")))
    if kind == "too_short":
        return messages.too_few_entries(context.get("min_length"))
    if kind == "string_too_long":
        return messages.too_long(context.get("max_length"))
    if kind == "greater_than":
        return messages.greater_than(context.get("gt"))
    if kind == "greater_than_equal":
        return messages.not_less_than(context.get("ge"))
    if kind == "less_than":
        return messages.less_than(context.get("lt"))
    if kind == "less_than_equal":
        return messages.not_greater_than(context.get("le"))
    return detail["msg"].removeprefix("Value error, ")


def _unknown_key_problem(loc: tuple[str | int, ...]) -> str:
    allowed = _allowed_keys(loc[:-1])
    name = loc[-1] if loc else ""
    if not allowed or not isinstance(name, str):
        return messages.UNKNOWN_KEY
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return messages.unknown_key_like(close[0])
    return messages.unknown_key_here(allowed)


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
            text += f" {messages.entry(part)}" if text else messages.entry(part)
            after_entry = True
            continue
        name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
        if after_entry:
            text += messages.of_entry(name)
        else:
            text += f".{name}" if text else name
        after_entry = False
    return text
