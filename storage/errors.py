"""Errors raised by the storage package."""


class StorageError(Exception):
    """The database cannot be used as asked (unsupported URL, failed migration)."""
