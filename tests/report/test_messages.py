"""Fixed text helpers."""

from __future__ import annotations

import pytest

from report import messages


@pytest.mark.parametrize(
    ("number", "numeral"),
    [(1, "一"), (3, "三"), (10, "十"), (12, "十二"), (20, "二十"), (99, "九十九")],
)
def test_numeral_is_chinese_when_number_is_in_range(number: int, numeral: str) -> None:
    assert messages.chinese_numeral(number) == numeral


@pytest.mark.parametrize("number", [0, 100, -1])
def test_numeral_raises_when_number_is_out_of_range(number: int) -> None:
    with pytest.raises(ValueError, match="section numeral"):
        messages.chinese_numeral(number)


def test_statistics_sentence_has_every_category_placeholder_when_formatted() -> None:
    placeholders = {
        "cum_start": "A",
        "cum_end": "B",
        **{
            f"{key}_{kind}": key
            for key in ("permit", "public", "other")
            for kind in ("accepted", "completed")
        },
    }
    assert messages.STATISTICS_SENTENCE.format(**placeholders).startswith(
        "据四川一体化政务服务平台数据统计，A至B，"
    )
