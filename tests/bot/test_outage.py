"""One log line when the database becomes unreachable and one when it is back."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bot.outage import DatabaseOutage
from storage.errors import is_unreachable


class _WithState(Exception):
    """A driver error carrying its SQLSTATE, as SQLAlchemy's asyncpg adapter raises them."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (
            DBAPIError("SELECT 1", {}, _WithState("the database system is starting up", "57P03")),
            True,
        ),
        (DBAPIError("SELECT 1", {}, _WithState("division by zero", "22012")), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_errors_of_reaching_the_database_count_as_an_outage(
    error: Exception, unreachable: bool
) -> None:
    assert is_unreachable(error) is unreachable


def test_each_outage_is_logged_once_when_it_begins_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    outage = DatabaseOutage(clock=lambda: now[0])
    refused = ConnectionRefusedError(111, "Connect call failed")

    with caplog.at_level(logging.WARNING, logger="bot.outage"):
        for second in range(5):  # many parts of the service fail, many times
            now[0] = 100.0 + second
            assert outage.failed(refused, "renewing the lease")
            assert outage.failed(refused, "handling an update")
        outage.succeeded()
        outage.succeeded()
        assert outage.failed(refused, "sending the outbox")  # a second outage
        outage.succeeded()
        assert not outage.failed(ValueError("a bug"), "handling an update")

    assert [r.getMessage() for r in caplog.records] == [
        "database unreachable; retrying until it is back",
        "database reachable again",
        "database unreachable; retrying until it is back",
        "database reachable again",
    ]
    assert caplog.records[1].__dict__["after_seconds"] == 4.0
    assert (outage.outages, outage.down) == (2, False)
