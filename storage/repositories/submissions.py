"""Items windows submit, their revisions, and each window's answer for an issue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Item, ItemRevision, ItemStatus, Window, WindowReport

# On the tables, not the mapped classes: SQLAlchemy's ORM layer costs as much again as the
# statement (about 75 against 50 µs a call, `select` of a column or a count).
_ITEMS = cast(Table, Item.__table__)
_REPORTS = cast(Table, WindowReport.__table__)

# Core, not the unit of work: a third of the cost of session.add and flush.
_INSERT_ITEM = (
    insert(_ITEMS)
    .values(
        issue_id=bindparam("issue_id"),
        window_id=bindparam("window_id"),
        subsection=bindparam("subsection"),
        text=bindparam("text"),
        status=ItemStatus.CONFIRMED,
        author_id=bindparam("author_id"),
        late=bindparam("late"),
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(Item.id)
)


async def add_item(
    session: AsyncSession,
    *,
    issue_id: int,
    window_id: int,
    subsection: str,
    text: str,
    author_id: int,
    now: datetime,
    late: bool = False,
) -> int:
    """Store a confirmed item; return its id."""
    params = {
        "issue_id": issue_id,
        "window_id": window_id,
        "subsection": subsection,
        "text": text,
        "author_id": author_id,
        "late": late,
        "now": now,
    }
    return int((await session.execute(_INSERT_ITEM, params)).scalar_one())


async def get_item(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


_WINDOW_ITEMS = (
    select(Item)
    .where(
        Item.issue_id == bindparam("issue_id"),
        Item.window_id == bindparam("window_id"),
        Item.status == ItemStatus.CONFIRMED,
    )
    .order_by(Item.created_at, Item.id)
)
_WINDOW_ITEM_COUNT = (
    select(func.count())
    .select_from(_ITEMS)
    .where(
        _ITEMS.c.issue_id == bindparam("issue_id"),
        _ITEMS.c.window_id == bindparam("window_id"),
        _ITEMS.c.status == ItemStatus.CONFIRMED.value,
    )
)
_NO_NEWS = select(_REPORTS.c.no_news).where(
    _REPORTS.c.issue_id == bindparam("issue_id"),
    _REPORTS.c.window_id == bindparam("window_id"),
)


async def window_items(session: AsyncSession, issue_id: int, window_id: int) -> list[Item]:
    """The window's confirmed items for the issue, oldest first."""
    result = await session.scalars(_WINDOW_ITEMS, {"issue_id": issue_id, "window_id": window_id})
    return list(result.all())


async def window_item_count(session: AsyncSession, issue_id: int, window_id: int) -> int:
    """How many confirmed items the window has in the issue."""
    params = {"issue_id": issue_id, "window_id": window_id}
    return int(await session.scalar(_WINDOW_ITEM_COUNT, params) or 0)


async def issue_items(session: AsyncSession, issue_id: int) -> list[tuple[Item, Window]]:
    """Confirmed items of the issue in print order: editor's, else window order then time."""
    result = await session.execute(
        select(Item, Window)
        .join(Window, Item.window_id == Window.id)
        .where(Item.issue_id == issue_id, Item.status == ItemStatus.CONFIRMED)
        .order_by(
            Item.position.is_(None),  # positioned items first (False sorts before True)
            Item.position,
            Window.position,
            Item.created_at,
            Item.id,
        )
    )
    return [(item, window) for item, window in result.all()]


async def revise_item(
    session: AsyncSession,
    item: Item,
    *,
    text: str,
    subsection: str,
    editor_id: int,
    now: datetime,
) -> None:
    """Change an item's text, keeping the previous text as a revision."""
    session.add(
        ItemRevision(
            item_id=item.id,
            text=item.text,
            subsection=item.subsection,
            edited_by=editor_id,
            edited_at=now,
        )
    )
    item.text = text
    item.subsection = subsection
    item.updated_at = now
    await session.flush()


async def item_revisions(session: AsyncSession, item_id: int) -> list[ItemRevision]:
    result = await session.scalars(
        select(ItemRevision).where(ItemRevision.item_id == item_id).order_by(ItemRevision.id)
    )
    return list(result.all())


async def withdraw_item(session: AsyncSession, item: Item, now: datetime) -> None:
    item.status = ItemStatus.WITHDRAWN
    item.updated_at = now
    await session.flush()


async def set_positions(session: AsyncSession, ordered_item_ids: Sequence[int]) -> None:
    """Store the editor's order for the given items (1-based within the list)."""
    for position, item_id in enumerate(ordered_item_ids, start=1):
        item = await session.get(Item, item_id)
        if item is not None:
            item.position = position
    await session.flush()


async def window_report(
    session: AsyncSession, issue_id: int, window_id: int
) -> WindowReport | None:
    return await session.get(WindowReport, (issue_id, window_id))


_STANDING = select(
    _WINDOW_ITEM_COUNT.scalar_subquery().label("items"),
    _NO_NEWS.scalar_subquery().label("no_news"),
)


async def window_standing(session: AsyncSession, issue_id: int, window_id: int) -> tuple[int, bool]:
    """The window's confirmed items in the issue, and whether it said 本周无动态: one statement."""
    params = {"issue_id": issue_id, "window_id": window_id}
    items, no_news = (await session.execute(_STANDING, params)).one()
    return int(items), bool(no_news)


async def set_no_news(
    session: AsyncSession,
    issue_id: int,
    window_id: int,
    no_news: bool,
    member_id: int | None,
    now: datetime,
) -> None:
    report = await window_report(session, issue_id, window_id)
    if report is None:
        report = WindowReport(issue_id=issue_id, window_id=window_id)
        session.add(report)
    report.no_news = no_news
    report.updated_by = member_id
    report.updated_at = now
    await session.flush()


# Built once, as _WINDOW_ITEMS: both run on every status message and every window standing.
_CONFIRMED_COUNTS = (
    select(Item.window_id, func.count())
    .where(Item.issue_id == bindparam("issue_id"), Item.status == ItemStatus.CONFIRMED)
    .group_by(Item.window_id)
)
_WINDOW_REPORTS = select(WindowReport).where(WindowReport.issue_id == bindparam("issue_id"))


async def confirmed_counts(session: AsyncSession, issue_id: int) -> dict[int, int]:
    """Window id → number of confirmed items in the issue."""
    result = await session.execute(_CONFIRMED_COUNTS, {"issue_id": issue_id})
    return {window_id: count for window_id, count in result.all()}


async def window_reports(session: AsyncSession, issue_id: int) -> dict[int, WindowReport]:
    result = await session.scalars(_WINDOW_REPORTS, {"issue_id": issue_id})
    return {report.window_id: report for report in result.all()}


async def set_window_flags(
    session: AsyncSession,
    issue_id: int,
    window_id: int,
    member_id: int | None,
    now: datetime,
    *,
    exempt: bool | None = None,
    reopened: bool | None = None,
) -> None:
    """Mark a window exempt this week, or reopened for submissions after the deadline."""
    report = await window_report(session, issue_id, window_id)
    if report is None:
        report = WindowReport(issue_id=issue_id, window_id=window_id, no_news=False)
        session.add(report)
    if exempt is not None:
        report.exempt = exempt
    if reopened is not None:
        report.reopened = reopened
    report.updated_by = member_id
    report.updated_at = now
    await session.flush()
