"""Rows a step looks up more than once, and those a batch looks up once for all its steps.

The rule they rest on: staff steps never change an issue. So the current issue one staff step
found serves the next staff step of the same batch; a step of anyone else (an editor may open,
close or extend an issue) forgets it. `BatchLookups.keep` enforces the rule: a staff step that
did change the issue it was handed is logged and the issue forgotten.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy import inspect

from handlers.framework.conversation import StepContext
from storage.models import Issue, Member, Role, Window
from storage.repositories import issues, windows

logger = logging.getLogger(__name__)

MEMO_WINDOW: Final = "window"  # the member's window (a storage.models.Window or None)
MEMO_ISSUE: Final = "issue"  # issues.current_issue (an Issue or None)


async def current_issue(ctx: StepContext) -> Issue | None:
    """`issues.current_issue`, asked once a step (once a batch for window staff)."""
    if MEMO_ISSUE not in ctx.memo:
        ctx.memo[MEMO_ISSUE] = await issues.current_issue(ctx.session)
    issue: Issue | None = ctx.memo[MEMO_ISSUE]
    return issue


async def window_of(ctx: StepContext, window_id: int) -> Window | None:
    """The member's window `window_id`, asked once a step (once a batch for window staff)."""
    if MEMO_WINDOW not in ctx.memo:
        ctx.memo[MEMO_WINDOW] = await windows.get_window(ctx.session, window_id)
    window: Window | None = ctx.memo[MEMO_WINDOW]
    return window


class BatchLookups:
    """Rows a batch looks up once and hands to the steps of window staff, through their memo."""

    def __init__(self, windows_of: dict[int, Window]) -> None:
        self._windows_of = windows_of
        self._shared: dict[str, Any] = {}

    def memo_for(self, member: Member | None) -> dict[str, Any]:
        if member is None or member.role != Role.STAFF:
            return {}
        memo = dict(self._shared)
        if member.window_id is not None:
            memo[MEMO_WINDOW] = self._windows_of.get(member.window_id)
        return memo

    def keep(self, member: Member | None, memo: dict[str, Any], kept: bool = True) -> None:
        """After a step: keep what it looked up for the next staff step, when that is safe.

        `kept`: whether the step's changes were kept (a rejected step's are rolled back, and
        the rows it loaded may be expired with them).
        """
        if member is None or member.role != Role.STAFF or not kept:
            self._shared.clear()
            return
        issue = memo.get(MEMO_ISSUE)
        if isinstance(issue, Issue) and _changed(issue):
            logger.error("a staff step changed an issue", extra={"issue_id": issue.id})
            self._shared.clear()
        elif MEMO_ISSUE in memo:
            self._shared[MEMO_ISSUE] = issue


def _changed(issue: Issue) -> bool:
    return bool(inspect(issue).modified)
