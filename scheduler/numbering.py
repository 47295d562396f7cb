"""Issue numbering: the yearly issue number and the running total, and where they came from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NumberSource(StrEnum):
    """How the numbers of the next issue were derived (said to the administrator)."""

    CONTINUED = "continued"  # the last issue in the database, plus one
    CONFIGURED = "configured"  # [numbering], whose year is the year
    CONFIGURED_OTHER_YEAR = "configured_other_year"  # [numbering] names another year
    FIRST = "first"  # nothing configured and nothing stored: 第1期（总第1期）


@dataclass(frozen=True, slots=True)
class NumberingDefaults:
    """Numbers for the very first issue, from the configuration's [numbering]."""

    year: int
    next_number: int
    next_total: int


@dataclass(frozen=True, slots=True)
class DerivedNumbers:
    year: int
    number: int
    total: int
    source: NumberSource
    defaults: NumberingDefaults | None = None  # what [numbering] said, when it was used


def next_numbers(last: tuple[int, int, int] | None, publish_year: int) -> tuple[int, int]:
    """Return `(number, total_number)` for the issue after `last` (`(year, number, total)`)."""
    if last is None:
        return 1, 1
    last_year, last_number, last_total = last
    # The number restarts with each calendar year; the total never does (bulletin-format §2)
    number = last_number + 1 if publish_year == last_year else 1
    return number, last_total + 1


def derive_numbers(
    last: tuple[int, int, int] | None, defaults: NumberingDefaults | None, publish_year: int
) -> DerivedNumbers:
    """The numbers of the next issue, published in `publish_year`, and how they were derived.

    The database wins once it holds an issue. Before that, [numbering] gives the first
    issue's numbers; when it names another year than the issue's, the number restarts at 1
    (a new year) while the running total is kept, and the administrator is told so.
    """
    if last is not None:
        number, total = next_numbers(last, publish_year)
        return DerivedNumbers(publish_year, number, total, NumberSource.CONTINUED)
    if defaults is None:
        return DerivedNumbers(publish_year, 1, 1, NumberSource.FIRST)
    if defaults.year == publish_year:
        return DerivedNumbers(
            publish_year,
            defaults.next_number,
            defaults.next_total,
            NumberSource.CONFIGURED,
            defaults,
        )
    return DerivedNumbers(
        publish_year, 1, defaults.next_total, NumberSource.CONFIGURED_OTHER_YEAR, defaults
    )
