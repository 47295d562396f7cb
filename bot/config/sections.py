"""The sections of the file about the bulletin and the week.

[bulletin], [numbering], [schedule], [intake], [draft], [[windows]], [storage] and
[security]; the channels and the web server are in `bot.config.endpoints`.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, Strict, ValidationInfo, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import messages
from bot.config.bounds import FIRST_YEAR, LAST_YEAR, MAX_COPIES, MAX_NEXT_NUMBER, MAX_NEXT_TOTAL
from bot.config.fields import (
    ClockTime,
    Day,
    Int32,
    Key,
    OptionalText,
    Problem,
    Section,
    Text,
    WindowName,
    WindowShortName,
    base_dir,
    check_unique,
    resolve_path,
)
from report.bulletin import BulletinTemplate, Criterion, StatisticsCategory, Subsection

DEFAULT_DATABASE_NAME: Final = "zhoubao.sqlite3"
ASYNC_DRIVERS: Final = ("sqlite+aiosqlite", "postgresql+asyncpg")


# --- [bulletin] ----------------------------------------------------------------------------


class SubsectionConfig(Section):
    """A category of window news under section 二 (`[[bulletin.subsections]]`)."""

    key: Key
    title: Text


class StatisticsCategoryConfig(Section):
    """One category of platform statistics (`[[bulletin.statistics]]`)."""

    key: Key
    label: Text


class CriterionConfig(Section):
    """One line of the hall inspection checklist (`[[bulletin.criteria]]`)."""

    key: Key
    label: Text


class DistributionConfig(Section):
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
        raise Problem(messages.BRACES) from None
    used: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in known:
            raise Problem(messages.unknown_placeholder(name, known))
        if spec or conversion:
            raise Problem(messages.formatted_placeholder(name))
        used.add(name)
    missing = [name for name in known[2:] if name not in used]
    if missing:
        raise Problem(messages.missing_placeholders(missing))


class BulletinConfig(Section):
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
        check_unique((item.key for item in self.statistics), ("statistics",), "key")
        check_unique((item.key for item in self.subsections), ("subsections",), "key")
        check_unique((item.key for item in self.criteria), ("criteria",), "key")
        try:
            _check_sentence(self.statistics_sentence, self.statistics)
        except Problem as problem:
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


class NumberingConfig(Section):
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
            raise Problem(messages.TOTAL_BELOW_NUMBER, ("next_total",))
        return self


# --- [schedule] ----------------------------------------------------------------------------


class ReminderConfig(Section):
    """A reminder to windows that have not submitted, relative to the deadline day."""

    day_offset: Annotated[int, Strict(), Field(ge=-6, le=0)]  # working days; 0 = deadline day
    time: ClockTime


def _default_reminders() -> tuple[ReminderConfig, ...]:
    return (
        ReminderConfig(day_offset=-1, time=time(15, 0)),
        ReminderConfig(day_offset=0, time=time(9, 0)),
    )


class ScheduleConfig(Section):
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
            raise Problem(messages.unknown_timezone(value)) from None
        return value

    @model_validator(mode="after")
    def _check_days(self) -> ScheduleConfig:
        # A week whose only working day is one day (a make-up Saturday, say) opens and
        # closes on that day: its deadline must come after its opening.
        if self.deadline_time <= self.open_time:
            raise Problem(messages.deadline_not_after_open(self.open_time), ("deadline_time",))
        check_unique(((r.day_offset, r.time) for r in self.reminders), ("reminders",))
        for index, reminder in enumerate(self.reminders):
            if reminder.day_offset == 0 and reminder.time >= self.deadline_time:
                raise Problem(
                    messages.reminder_not_before_deadline(self.deadline_time),
                    ("reminders", index, "time"),
                )
        check_unique(self.extra_holidays, ("extra_holidays",))
        check_unique(self.extra_workdays, ("extra_workdays",))
        for index, day in enumerate(self.extra_workdays):
            if day in self.extra_holidays:
                raise Problem(messages.workday_also_holiday(day), ("extra_workdays", index))
        return self

    def zone(self) -> ZoneInfo:
        """Return the timezone as a `ZoneInfo`."""
        return ZoneInfo(self.timezone)


# --- [intake] ------------------------------------------------------------------------------


class IntakeConfig(Section):
    """What window staff may send as an item (`[intake]`)."""

    # Letters and digits an item needs (punctuation and spaces do not count): shorter texts,
    # a bare "1" or "。。", are refused at the text step as not being an item.
    min_item_chars: Annotated[int, Strict(), Field(ge=1, le=1000)] = 6


# --- [draft] -------------------------------------------------------------------------------


class DraftConfig(Section):
    """How drafts are laid out (`[draft]`)."""

    # A PDF beside the .docx, laid out by LibreOffice where it is installed.
    pdf: Annotated[bool, Strict()] = True
    # Printed double-sided (GB/T 9704 §8), the 版记 sits on an even page.
    double_sided: Annotated[bool, Strict()] = True


# --- [[windows]] ---------------------------------------------------------------------------


class WindowConfig(Section):
    """A department's reporting desk (`[[windows]]`)."""

    name: WindowName  # 商务厅窗口
    short_name: WindowShortName  # 商务厅
    order: Int32  # position in the bulletin and in lists; unique


# --- [storage] -----------------------------------------------------------------------------


class StorageConfig(Section):
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
        data_dir = resolve_path(result.get("data_dir", "data"), info)
        if "data_dir" in result or isinstance(data_dir, Path):
            result["data_dir"] = data_dir
        if "url" not in result and isinstance(data_dir, str | Path):
            result["url"] = f"sqlite+aiosqlite:///{Path(data_dir) / DEFAULT_DATABASE_NAME}"
        return result

    @field_validator("data_dir", mode="before")
    @classmethod
    def _check_data_dir(cls, value: object) -> object:
        if value == "":
            raise Problem(messages.EMPTY)
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise Problem(messages.BAD_DATABASE_URL) from None
        if url.drivername not in ASYNC_DRIVERS:
            raise Problem(messages.BAD_DATABASE_URL)
        if url.password:
            raise Problem(messages.PASSWORD_IN_URL)
        database = url.database
        if url.drivername.startswith("sqlite") and (
            not database or database == ":memory:" or database.startswith("file:")
        ):
            raise Problem(messages.SQLITE_NOT_A_FILE)
        base = base_dir(info)
        if (
            url.drivername.startswith("sqlite")
            and base is not None
            and database
            and not Path(database).is_absolute()
        ):
            return url.set(database=str(base / database)).render_as_string(hide_password=False)
        return value


# --- [security] ----------------------------------------------------------------------------


class SecurityConfig(Section):
    """What strangers (chats no member uses) may cost, and how long traces are kept."""

    # A stranger is answered at most once per this many minutes; its other messages are counted.
    stranger_reply_minutes: Annotated[int, Strict(), Field(ge=1, le=1440)] = 10
    # Sent messages, processed updates and quiet strangers are deleted after this many days;
    # items, their revisions and drafts are kept for ever.
    retention_days: Annotated[int, Strict(), Field(ge=7, le=3650)] = 90
