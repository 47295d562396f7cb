"""Errors raised by the report package."""

from __future__ import annotations


class DraftError(Exception):
    """The issue cannot be compiled into a draft; `user_message` tells the editor why."""

    def __init__(self, detail: str, user_message: str) -> None:
        super().__init__(detail)
        self.user_message = user_message  # Chinese, from report.messages


class NoItemsError(DraftError):
    """Section 二 would have no items at all."""


class MissingFiguresError(DraftError):
    """Statistics figures are missing for some categories."""

    def __init__(self, detail: str, user_message: str, missing: tuple[str, ...]) -> None:
        super().__init__(detail, user_message)
        self.missing = missing  # category keys, in template order


class UnknownSubsectionError(DraftError):
    """An item belongs to a subsection key that the template does not define."""

    def __init__(self, detail: str, user_message: str, keys: tuple[str, ...]) -> None:
        super().__init__(detail, user_message)
        self.keys = keys


class RenderError(DraftError):
    """A text of the draft cannot be written into the document (not XML 1.0 compatible)."""
