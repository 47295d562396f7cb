"""What a value of the configuration may be: the patterns of keys and the bounds of numbers.

What the database holds sets most of them: a value beyond these fails on PostgreSQL (SQLite
stores anything), so the file is refused instead, under the key that holds it.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import String

from storage.models import Base, InspectionResult, Item, StatisticFigure, Window

KEY_PATTERN: Final = r"^[a-z][a-z0-9_]*$"
ENV_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _column_length(model: type[Base], column: str) -> int:
    """The length of a String column, in characters (PostgreSQL's varchar(n) counts those)."""
    sql_type = model.__table__.c[column].type
    assert isinstance(sql_type, String) and sql_type.length is not None
    return sql_type.length


INT32_MIN: Final = -(2**31)  # an Integer column on PostgreSQL
INT32_MAX: Final = 2**31 - 1
WINDOW_NAME_MAX: Final = _column_length(Window, "name")
WINDOW_SHORT_NAME_MAX: Final = _column_length(Window, "short_name")
KEY_MAX: Final = min(  # a subsection's, statistic's or criterion's key is stored with the data
    _column_length(Item, "subsection"),
    _column_length(StatisticFigure, "category"),
    _column_length(InspectionResult, "criterion"),
)
# Bounds with room to count on: each new issue adds 1 to both numbers.
MAX_NEXT_NUMBER: Final = 1000  # a weekly bulletin has at most 53 issues a year
MAX_NEXT_TOTAL: Final = 1_000_000
MAX_COPIES: Final = 100_000
FIRST_YEAR: Final = 2000  # the years the calendar and the numbering know
LAST_YEAR: Final = 2100
