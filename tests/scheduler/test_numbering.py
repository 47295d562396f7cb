"""Issue number and total number of the next issue."""

from __future__ import annotations

from scheduler.numbering import next_numbers


def test_first_issue_is_one_of_one_when_there_is_no_last_issue() -> None:
    assert next_numbers(None, 2022) == (1, 1)


def test_number_and_total_increase_when_published_in_same_year() -> None:
    # Issue 2022-31 was total 406 (the reference bulletin)
    assert next_numbers((2022, 31, 406), 2022) == (32, 407)


def test_number_restarts_and_total_keeps_counting_when_year_changes() -> None:
    assert next_numbers((2022, 48, 423), 2023) == (1, 424)


def test_number_restarts_when_years_are_skipped() -> None:
    assert next_numbers((2020, 12, 300), 2022) == (1, 301)
