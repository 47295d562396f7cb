"""Issue numbering: the yearly issue number and the running total."""

from __future__ import annotations


def next_numbers(last: tuple[int, int, int] | None, publish_year: int) -> tuple[int, int]:
    """Return `(number, total_number)` of the issue after `last`, published in `publish_year`.

    `last` is `(year, number, total_number)` of the last issue, or None if there is none.
    The number restarts at 1 when the year changes; the total never restarts.
    """
    if last is None:
        return 1, 1
    last_year, last_number, last_total = last
    number = last_number + 1 if publish_year == last_year else 1
    return number, last_total + 1
