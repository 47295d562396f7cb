"""Errors raised by the storage package, and what a database error means."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# SQLSTATEs of a server that cannot take connections now: starting up (57P03, PostgreSQL's
# "the database system is starting up", which asyncpg raises as CannotConnectNowError and
# SQLAlchemy as a plain DBAPIError), shutting down (57P01, 57P02), and the connection
# exceptions (class 08).
_UNREACHABLE_STATES = frozenset({"57P01", "57P02", "57P03"})


class StorageError(Exception):
    """The database cannot be used as asked (unsupported URL, failed migration)."""


def is_unreachable(error: BaseException) -> bool:
    """True if `error` says the database cannot be reached now (down, restarting, network).

    Such an error is transient: whatever failed is tried again once the database is back,
    and the runtime logs one line per outage rather than a traceback per attempt.
    """
    # Connection refused or reset, a time-out: raised as they are by the drivers' connect.
    if isinstance(error, (OSError, TimeoutError)):
        return True
    if isinstance(error, DBAPIError):
        # A pooled connection the server closed (a restart) or one that could not be made.
        if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
            return True
        state = str(getattr(error.orig, "sqlstate", None) or "")
        return state in _UNREACHABLE_STATES or state.startswith("08")
    return False
