"""Date formats printed in the bulletin."""

from __future__ import annotations

from datetime import date

from report.dates import format_date, format_month_day, format_period


def test_date_has_year_month_day_without_padding_when_formatted() -> None:
    assert format_date(date(2022, 9, 6)) == "2022年9月6日"


def test_month_day_has_no_year_when_formatted() -> None:
    assert format_month_day(date(2022, 9, 13)) == "9月13日"


def test_period_uses_full_width_brackets_and_one_em_dash_when_formatted() -> None:
    assert format_period(date(2022, 9, 13), date(2022, 9, 16)) == "（9月13日—9月16日）"
