"""Errors raised by the storage package, and what a database error means."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


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
        return bool(error.connection_invalidated) or isinstance(
            error, (OperationalError, InterfaceError)
        )
    return False
