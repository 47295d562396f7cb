"""Issue numbering: the yearly issue number and the running total."""

from __future__ import annotations


def next_numbers(last: tuple[int, int, int] | None, publish_year: int) -> tuple[int, int]:
    """Return `(number, total_number)` for the issue after `last` (`(year, number, total)`)."""
    if last is None:
        return 1, 1
    last_year, last_number, last_total = last
    # The number restarts with each calendar year; the total never does (bulletin-format §2)
    number = last_number + 1 if publish_year == last_year else 1
    return number, last_total + 1
