"""The weekly prompt and the reminders, written to the outbox for each window's staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import messages
from handlers.framework.menu import offer_at_menu
from handlers.services.delivery import enqueue, member_key
from handlers.services.standings import WindowState, window_standings
from handlers.services.status_report import period_of
from handlers.types import Choice, Envelope, Outgoing
from storage.models import Issue
from storage.repositories import members


class PromptKind(StrEnum):
    OPEN = "open"
    REMIND = "remind"


@dataclass(frozen=True, slots=True)
class Prompted:
    reached: int  # windows whose staff were sent the prompt or reminder
    unbound: int  # windows that should have had it but have nobody bound to receive it


async def prompt_windows(
    session: AsyncSession,
    issue: Issue,
    kind: PromptKind,
    now: datetime,
    *,
    label: str = "",
    menu: tuple[Choice, ...] = (),
) -> int:
    """Queue the prompt (to every window) or a reminder (to silent windows); return windows."""
    return (await send_prompts(session, issue, kind, now, label=label, menu=menu)).reached


async def send_prompts(
    session: AsyncSession,
    issue: Issue,
    kind: PromptKind,
    now: datetime,
    *,
    label: str = "",
    menu: tuple[Choice, ...] = (),
) -> Prompted:
    """Queue the prompt or reminder; count the windows reached and those with nobody bound.

    `label` distinguishes reminders of the same issue (e.g. "2022-09-15T15:00"): each
    (issue, window, member, kind, label) goes out once however often this runs. An empty
    label with REMIND means an editor's manual reminder, which may be repeated. `menu`: the
    staff's menu (`handlers.registry`), offered under the prompt.
    """
    period = period_of(issue)
    reached = unbound = 0
    for standing in await window_standings(session, issue):
        if kind == PromptKind.REMIND and standing.state != WindowState.SILENT:
            continue
        staff = await members.members_of_window(session, standing.window.id)
        if not staff:
            unbound += 1
            continue
        reached += 1
        name = standing.window.name
        text = (
            messages.weekly_prompt(name, period)
            if kind == PromptKind.OPEN
            else messages.reminder(name, period)
        )
        for member in staff:
            key = member_key(member)
            dedupe = None
            if kind == PromptKind.OPEN or label:
                dedupe = f"{kind}:{issue.id}:{label}:{member.id}"
            queued = await enqueue(session, Envelope(key, Outgoing(text, menu), dedupe), now)
            # Let a typed "1" answer the prompt's menu, unless they are mid-conversation.
            if queued:
                await offer_at_menu(session, key, menu, now)
    return Prompted(reached, unbound)
