"""The types of the configuration's values, and the problem a check raises.

A check raises `Problem` with its Chinese message (from `bot.config.messages`);
`bot.config.explain` turns it, with pydantic's own errors, into one `ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
)

from bot.config import messages
from bot.config.bounds import (
    ENV_NAME_PATTERN,
    FIRST_YEAR,
    INT32_MAX,
    INT32_MIN,
    KEY_MAX,
    KEY_PATTERN,
    LAST_YEAR,
    WINDOW_NAME_MAX,
    WINDOW_SHORT_NAME_MAX,
)


class Problem(ValueError):
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

    def moved(self, prefix: tuple[str | int, ...]) -> Problem:
        """Return this problem located below `prefix`."""
        other = (*prefix, *self.other) if self.other is not None else None
        return Problem(self.message, (*prefix, *self.loc), other)


def _check_text(value: str) -> str:
    if not value:
        raise Problem(messages.EMPTY)
    if value != value.strip():
        raise Problem(messages.SURROUNDING_SPACE)
    if "\n" in value or "\r" in value:
        raise Problem(messages.LINE_BREAK)
    return value


def _check_optional_text(value: str) -> str:
    return _check_text(value) if value else value


def _check_day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise Problem(messages.DAY_OUT_OF_RANGE)
    return value


def _parse_clock_time(value: object) -> object:
    """Turn "HH:MM" (24-hour) into a `time`; leave other types for pydantic to reject."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise Problem(messages.CLOCK_TIME_TYPE)
    match = re.fullmatch(r"(\d{2}):(\d{2})", value)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise Problem(messages.bad_clock_time(value))
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


class Section(BaseModel):
    # hide_input_in_errors: a mistyped secret must not reach a log through str(ValidationError)
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def check_unique(
    values: Iterable[object], loc: tuple[str | int, ...], field: str | None = None
) -> None:
    """Raise at the second occurrence of a value in the list at `loc` (of `field` per item)."""
    tail: tuple[str, ...] = (field,) if field else ()
    seen: dict[object, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            raise Problem(messages.DUPLICATE, (*loc, index, *tail), other=(*loc, seen[value]))
        seen[value] = index


def base_dir(info: ValidationInfo) -> Path | None:
    context = info.context
    if isinstance(context, dict):
        base = context.get("base_dir")
        if isinstance(base, Path):
            return base
    return None


def resolve_path(value: object, info: ValidationInfo) -> object:
    """Resolve a relative path string against the configuration file's directory."""
    base = base_dir(info)
    if isinstance(value, str) and value and base is not None:
        return base / value
    return value
