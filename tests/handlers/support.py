"""Helpers shared by the handler tests: open the week's issue and read back what was stored."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from bot.app import App
from scheduler.jobs import open_issue
from storage.models import (
    ConversationState,
    Issue,
    Item,
    Member,
    OutboxMessage,
    ProcessedUpdate,
    WindowReport,
)
from storage.repositories import conversations, figures, issues, members, submissions, windows
from tests.fakes import Person

WEEK_DAY = date(2022, 9, 14)  # the reference issue's week, as the `clock` fixture

COMMERCE = "商务厅"
COMMERCE_WINDOW = "商务厅窗口"
HEALTH = "省卫健委"
HEALTH_WINDOW = "省卫健委窗口"
HOUSING = "住建厅"
HOUSING_WINDOW = "住建厅窗口"

BUSINESS_ENVIRONMENT = "business_environment"
BUSINESS_ENVIRONMENT_TITLE = "优化营商环境工作开展情况"
SERVICE_EFFICIENCY = "service_efficiency"
SERVICE_EFFICIENCY_TITLE = "窗口服务效能提升工作情况"

ITEM = "本周窗口办结业务4082件，群众满意率100%。"
OTHER_ITEM = "推行“一窗通办”，压缩办理时限30%。"
THIRD_ITEM = "开展“帮办代办”服务，服务企业12家。"

# Year-to-date figures of the reference issue: category -> (accepted, completed).
REFERENCE_FIGURES = {
    "permit": (617058, 611244),
    "public": (19691982, 7463962),
    "other": (49602, 50398),
}


async def open_week(app: App) -> Issue:
    """Open the issue of the reference week (prompting the staff already bound)."""
    async with app.sessions() as session, session.begin():
        opened = await open_issue(session, app.calendar, WEEK_DAY, app.numbering, app.clock())
        return opened.issue


async def current_issue(app: App) -> Issue:
    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        return issue


async def close_current_issue(app: App) -> None:
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        assert issue is not None
        await issues.close_issue(session, issue, app.clock())


async def save_reference_figures(app: App) -> None:
    """Store the statistics directly, for tests about something other than entering them."""
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        assert issue is not None
        await figures.save_statistics(session, issue.id, REFERENCE_FIGURES, None, app.clock())


async def saved_statistics(app: App) -> dict[str, tuple[int, int]]:
    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        return await figures.statistics(session, issue.id)


async def all_items(app: App) -> list[Item]:
    """Every stored item, withdrawn ones included, by id."""
    async with app.sessions() as session:
        return list((await session.scalars(select(Item).order_by(Item.id))).all())


async def get_item(app: App, item_id: int) -> Item:
    async with app.sessions() as session:
        item = await submissions.get_item(session, item_id)
        assert item is not None
        return item


async def window_items(app: App, window: str) -> list[Item]:
    """The window's confirmed items in the current issue."""
    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        found = await windows.find_window(session, window)
        assert found is not None
        return await submissions.window_items(session, issue.id, found.id)


async def window_report(app: App, window: str) -> WindowReport | None:
    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        found = await windows.find_window(session, window)
        assert found is not None
        return await submissions.window_report(session, issue.id, found.id)


async def window_id(app: App, window: str) -> int:
    async with app.sessions() as session:
        found = await windows.find_window(session, window)
        assert found is not None
        return found.id


async def member_of(app: App, person: Person) -> Member | None:
    async with app.sessions() as session:
        return await members.get_member(session, person.key.channel.value, person.key.user_id)


async def all_members(app: App) -> list[Member]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Member).order_by(Member.id))).all())


async def state_of(app: App, person: Person) -> str | None:
    """The name of the state the person's conversation is stored at, if any."""
    key = person.key
    async with app.sessions() as session:
        row = await conversations.load_state(session, key.channel.value, key.chat_id, key.user_id)
        return None if row is None else row.state


async def stored_state(app: App, person: Person) -> ConversationState | None:
    key = person.key
    async with app.sessions() as session:
        return await conversations.load_state(session, key.channel.value, key.chat_id, key.user_id)


async def row_counts(app: App) -> tuple[int, int, int]:
    """(items, outbox messages, processed updates): what an update can add."""
    async with app.sessions() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(table))
            for table in (Item, OutboxMessage, ProcessedUpdate)
        ]
    items, outbox, processed = (count or 0 for count in counts)
    return items, outbox, processed


async def submit(person: Person, subsection_number: str, text: str) -> None:
    """From the menu: 提交动态, the subsection, the text, confirm, finish."""
    await person.say_all("1", subsection_number, text, "1", "2")


async def add_item(app: App, author: Person, subsection: str, text: str) -> Item:
    """Store a confirmed item of the author's window directly, as a finished submission would.

    For tests about what happens to items afterwards; it skips five chat round trips.
    """
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        member = await members.get_member(session, author.key.channel.value, author.key.user_id)
        assert issue is not None and member is not None and member.window_id is not None
        item_id = await submissions.add_item(
            session,
            issue_id=issue.id,
            window_id=member.window_id,
            subsection=subsection,
            text=text,
            author_id=member.id,
            now=app.clock(),
        )
        item = await submissions.get_item(session, item_id)
        assert item is not None
        return item
