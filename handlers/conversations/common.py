"""Small helpers shared by the conversations."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Final

from handlers import messages
from handlers.errors import InputRejected
from handlers.framework.choices import choice_or_text
from handlers.framework.conversation import END, Reply, StepContext
from handlers.framework.lookups import current_issue, window_of
from handlers.services.status_report import period_of
from handlers.types import Choice, Incoming, Outgoing
from report.normalise import normalise_item
from storage.models import Issue, IssueStatus, Item, ItemStatus, Role, Window
from storage.repositories import issues, submissions

__all__ = ["period_of"]  # re-exported for the conversations


def ask(text: str, *choices: tuple[str, str]) -> Outgoing:
    """An outgoing question with (value, label) choices."""
    return Outgoing(text, tuple(Choice(value, label) for value, label in choices))


_TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_text(raw: str | None) -> str:
    """Drop control characters and terminal escapes (keeping line breaks) and outer space."""
    if raw is None:
        return ""
    kept = []
    for char in _TERMINAL_ESCAPE.sub("", raw):
        if char in "\n\t":
            kept.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf") and char not in "\u200d":
            continue  # zero-width joiner stays: it is part of some emoji
        else:
            kept.append(char)
    return "".join(kept).strip()


def require_text(update: Incoming) -> str:
    """The update's cleaned text; rejected when empty."""
    text = clean_text(update.text)
    if not text:
        raise InputRejected(messages.EMPTY_MESSAGE)
    return text


async def open_issue(ctx: StepContext) -> Issue:
    """The issue the member's window may still change; rejected when intake is over for it."""
    issue = await current_issue(ctx)
    if issue is None:
        raise InputRejected(messages.NO_OPEN_ISSUE)
    if issue.status == IssueStatus.OPEN or await _reopened_for_member(ctx, issue):
        return issue
    raise InputRejected(messages.ISSUE_CLOSED)


async def submission_issue(ctx: StepContext) -> tuple[Issue, bool]:
    """The issue a new item goes to, and whether it comes late (after the deadline).

    Late items are accepted and flagged rather than refused: nothing a window sends is lost,
    and the editor decides whether it still goes in.
    """
    issue = await current_issue(ctx)
    if issue is None:
        raise InputRejected(messages.NO_OPEN_ISSUE)
    if issue.status == IssueStatus.OPEN or await _reopened_for_member(ctx, issue):
        return issue, False
    if issue.status == IssueStatus.CLOSED:
        return issue, True
    raise InputRejected(messages.ISSUE_CLOSED)


async def _reopened_for_member(ctx: StepContext, issue: Issue) -> bool:
    member = ctx.member
    if member is None or member.window_id is None:
        return False
    report = await submissions.window_report(ctx.session, issue.id, member.window_id)
    return report is not None and report.reopened


async def latest_issue(ctx: StepContext) -> Issue:
    issue = await issues.current_issue(ctx.session)
    if issue is None:
        raise InputRejected(messages.NO_OPEN_ISSUE)
    return issue


async def latest_items(ctx: StepContext) -> list[tuple[Item, Window]]:
    """The latest issue's confirmed items with their windows, in print order."""
    issue = await latest_issue(ctx)
    return await submissions.issue_items(ctx.session, issue.id)


def window_item_line(number: int, window: Window, item: Item, chars: int) -> str:
    """One line of a list of the issue's items: （2）商务厅窗口：the item's beginning……"""
    return f"（{number}）{window.name}：{excerpt(item.text, chars)}"


async def member_window(ctx: StepContext) -> Window:
    """The window of a staff member; rejected for anyone else."""
    member = ctx.member
    if member is None or member.role != Role.STAFF or member.window_id is None:
        raise InputRejected(messages.STAFF_ONLY)
    window = await window_of(ctx, member.window_id)
    if window is None or not window.active:
        raise InputRejected(messages.STAFF_ONLY)
    return window


# The largest row id a choice may carry: an INTEGER key on PostgreSQL (SQLite holds 2**63 - 1).
# A longer number is no id we ever offered, and the database would refuse it with an error.
MAX_ROW_ID: Final = 2**31 - 1
_MAX_ID_DIGITS: Final = len(str(MAX_ROW_ID))


def choice_id(value: str, prefix: str) -> int:
    """The row id in a choice value such as item:42; refused unless it is one a prompt could
    have offered: ASCII digits after `prefix`, from 1 to `MAX_ROW_ID`.

    A button's value comes back from the network as sent, so nothing stops a crafted
    "item:²", "item:٣" or "win:" followed by twenty nines: each is a refusal, never an error.
    """
    digits = value.removeprefix(prefix)
    if (
        not value.startswith(prefix)
        or not (digits.isascii() and digits.isdecimal())
        or len(digits) > _MAX_ID_DIGITS
    ):
        raise InputRejected(messages.CHOOSE_NUMBER)
    number = int(digits)
    if not 1 <= number <= MAX_ROW_ID:
        raise InputRejected(messages.CHOOSE_NUMBER)
    return number


def member_id(ctx: StepContext) -> int:
    """The member's id (the runtime has checked their role against the conversation's)."""
    assert ctx.member is not None
    return ctx.member.id


STAFF_ROLES: Final = frozenset({Role.STAFF})
EDITOR_ROLES: Final = frozenset({Role.EDITOR, Role.ADMIN})
INSPECTION_ROLES: Final = frozenset({Role.INSPECTOR, Role.EDITOR, Role.ADMIN})


async def own_item(ctx: StepContext, item_id: int) -> Item:
    """The item if it is a confirmed item of the member's window in the open issue."""
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    item = await submissions.get_item(ctx.session, item_id)
    if item is None or item.status != ItemStatus.CONFIRMED or item.issue_id != issue.id:
        raise InputRejected(messages.ITEM_GONE)
    if item.window_id != window.id:
        raise InputRejected(messages.NOT_YOUR_ITEM)
    return item


# The choices under a preview of entered figures or verdicts.
REVIEW_CHOICES: Final = (
    ("save", messages.LABEL_SAVE),
    ("again", messages.LABEL_REENTER),
    ("cancel", messages.LABEL_CANCEL),
)


async def review(
    update: Incoming,
    *,
    again: Callable[[], Awaitable[Reply]],
    save: Callable[[], Awaitable[Reply]],
) -> Reply:
    """Answer a preview's 确认保存 (save), 重新录入 (again) or 取消."""
    value = choice_or_text(update)
    if value == "again":
        return await again()
    if value == "cancel":
        return Reply([Outgoing(messages.CANCELLED)], END)
    if value != "save":
        raise InputRejected(messages.CHOOSE_NUMBER)
    return await save()


def back_one(ctx: StepContext, index_key: str, state: StrEnum) -> Reply:
    """返回 in a walk through numbered questions: the question before, or the menu."""
    index = int(ctx.data[index_key])
    if index == 0:
        return Reply.to_menu([])
    ctx.data[index_key] = index - 1
    return Reply([], state)


def excerpt(text: str, limit: int) -> str:
    """The item as the bulletin prints it, cut to `limit` characters for a list."""
    printed = normalise_item(text)
    return printed if len(printed) <= limit else printed[:limit] + "……"
