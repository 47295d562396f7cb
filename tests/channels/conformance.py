"""The intake user stories, written once and run on every channel through a `Driver`.

A driver plays people on one channel as a phone would: it sends text, taps a button (or, on
a text-only channel, types the number shown before the choice), and reads back what the
channel really delivered — printed lines for the console, the Bot API calls recorded by the
loopback Telegram server, the messages the Wechaty peer received.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from bot.app import App
from handlers import messages
from report.dates import format_period
from scheduler.jobs import open_issue
from storage.models import Role
from storage.repositories import issues, submissions
from tests.fakes import invite_code

NUMBERED_CHOICE = re.compile(r"^\s+(\d+)\. (.+)$")
PERIOD = format_period(date(2022, 9, 13), date(2022, 9, 16))


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the person saw it."""

    text: str  # without the numbered choices a text-only channel appends
    labels: tuple[str, ...] = ()  # the buttons, or the numbered choices
    document: str | None = None  # a file's name


def split_numbered(text: str) -> Received:
    """Take a text-only channel's message apart into its text and numbered choices."""
    lines = text.split("\n")
    labels: list[str] = []
    while lines and (match := NUMBERED_CHOICE.match(lines[-1])):
        labels.insert(0, match.group(2))
        lines.pop()
    return Received("\n".join(lines), tuple(labels))


class Driver(Protocol):
    app: App

    async def send(self, who: str, text: str) -> None:
        """`who` types `text` and sends it."""
        ...

    async def choose(self, who: str, label: str) -> None:
        """`who` picks the choice labelled `label` in the last message offering it."""
        ...

    async def inbox(self, who: str) -> list[Received]:
        """Deliver the outbox, then return what reached `who` since the last call."""
        ...


@dataclass
class Story:
    driver: Driver
    codes: dict[str, str] = field(default_factory=dict)

    async def say(self, who: str, text: str) -> list[Received]:
        await self.driver.send(who, text)
        return await self.driver.inbox(who)

    async def pick(self, who: str, label: str) -> list[Received]:
        await self.driver.choose(who, label)
        return await self.driver.inbox(who)

    async def bind(self, who: str, role: Role, window: str | None = None) -> list[Received]:
        code = await invite_code(self.driver.app, role, window)
        return await self.say(who, code)

    async def open_week(self) -> None:
        app = self.driver.app
        async with app.sessions() as session, session.begin():
            await open_issue(session, app.calendar, date(2022, 9, 14), app.numbering, app.clock())

    async def submit(self, who: str, subsection: str, text: str) -> list[Received]:
        await self.pick(who, messages.LABEL_SUBMIT)
        await self.pick(who, subsection)
        preview = await self.say(who, text)
        assert messages.LABEL_CONFIRM in preview[-1].labels, preview
        return await self.pick(who, messages.LABEL_CONFIRM)


def texts(received: list[Received]) -> list[str]:
    return [message.text for message in received]


async def stored_items(app: App) -> list[tuple[str, str, str]]:
    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        rows = await submissions.issue_items(session, issue.id)
    return [(window.name, item.subsection, item.text) for item, window in rows]


# --- the stories -------------------------------------------------------------------------

BUSINESS = "优化营商环境工作开展情况"
EFFICIENCY = "窗口服务效能提升工作情况"
FIRST = "商务厅推广电子营业执照应用，企业办事无需另行提交纸质营业执照。"
SECOND = "商务厅窗口居家办公期间为企业审发进出口许可证86件。"
EDITED = "商务厅窗口居家办公期间为企业审发进出口许可证96件。"


async def stranger_is_told_how_to_get_a_code(story: Story) -> None:
    assert texts(await story.say("路人甲", "你好")) == [messages.WELCOME_UNBOUND]


async def staff_binds_submits_two_edits_one_withdraws_one(story: Story) -> None:
    bound = await story.bind("商务厅小王", Role.STAFF, "商务厅")
    assert texts(bound)[0] == messages.bound("商务厅窗口", Role.STAFF)
    assert bound[-1].labels[0] == messages.LABEL_SUBMIT
    await story.open_week()
    assert texts(await story.driver.inbox("商务厅小王")) == [
        messages.weekly_prompt("商务厅窗口", PERIOD)
    ]

    done = await story.submit("商务厅小王", BUSINESS, FIRST)
    assert texts(done) == [messages.submitted(1)]
    await story.pick("商务厅小王", messages.LABEL_ADD_MORE)
    await story.pick("商务厅小王", EFFICIENCY)
    await story.say("商务厅小王", SECOND)
    assert texts(await story.pick("商务厅小王", messages.LABEL_CONFIRM)) == [messages.submitted(2)]
    assert texts(await story.pick("商务厅小王", messages.LABEL_DONE)) == [messages.finished(2)]

    listing = await story.pick("商务厅小王", messages.LABEL_MY_ITEMS)
    assert listing[-1].labels == (messages.item_choice(1), messages.item_choice(2), "返回")
    await story.pick("商务厅小王", messages.item_choice(2))
    await story.pick("商务厅小王", messages.LABEL_EDIT)
    await story.say("商务厅小王", EDITED)
    edited = await story.pick("商务厅小王", messages.LABEL_SAVE_EDIT)
    assert texts(edited)[0] == messages.EDITED
    await story.pick("商务厅小王", messages.item_choice(1))
    withdrawn = await story.pick("商务厅小王", messages.LABEL_WITHDRAW)
    assert texts(withdrawn)[0] == messages.WITHDRAWN
    assert await stored_items(story.driver.app) == [("商务厅窗口", "service_efficiency", EDITED)]


async def other_window_says_no_news(story: Story) -> None:
    await story.bind("住建厅小张", Role.STAFF, "住建厅")
    await story.open_week()
    await story.driver.inbox("住建厅小张")
    assert texts(await story.say("住建厅小张", "本周无动态")) == [
        messages.no_news_recorded("住建厅窗口")
    ]


async def help_and_cancel_work_in_the_middle(story: Story) -> None:
    await story.bind("商务厅小王", Role.STAFF, "商务厅")
    await story.open_week()
    await story.driver.inbox("商务厅小王")
    await story.pick("商务厅小王", messages.LABEL_SUBMIT)
    helped = await story.say("商务厅小王", "帮助")
    assert texts(helped)[0] == messages.ASK_SUBSECTION_HELP
    assert helped[-1].labels == (BUSINESS, EFFICIENCY)  # asked again, where it was
    await story.pick("商务厅小王", BUSINESS)
    cancelled = await story.say("商务厅小王", "取消")
    assert texts(cancelled) == [messages.CANCELLED, messages.MENU_PROMPT]
    assert await stored_items(story.driver.app) == []


async def silent_window_receives_a_reminder(story: Story) -> None:
    await story.bind("住建厅小张", Role.STAFF, "住建厅")
    await story.bind("编辑老陈", Role.EDITOR)
    await story.open_week()
    await story.driver.inbox("住建厅小张")
    reminded = texts(await story.pick("编辑老陈", messages.LABEL_REMIND))[0]
    windows = len(story.driver.app.config.windows)
    assert reminded == messages.reminded(1, windows - 1)  # only 住建厅 has someone bound
    reminder = await story.driver.inbox("住建厅小张")
    assert texts(reminder) == [messages.reminder("住建厅窗口", PERIOD)]
    assert reminder[0].labels[0] == messages.LABEL_SUBMIT


async def editor_receives_the_draft_document(story: Story) -> None:
    await story.bind("商务厅小王", Role.STAFF, "商务厅")
    await story.bind("编辑老陈", Role.EDITOR)
    await story.open_week()
    await story.driver.inbox("商务厅小王")
    await story.submit("商务厅小王", BUSINESS, FIRST)
    await story.pick("编辑老陈", messages.LABEL_STATISTICS)
    for figure in ("617058", "611244", "19691982", "7463962", "49602", "50398"):
        await story.say("编辑老陈", figure)
    await story.pick("编辑老陈", messages.LABEL_SAVE)
    await story.pick("编辑老陈", messages.LABEL_COMPILE)
    compiled = await story.say("编辑老陈", "2022-10-21")  # the issue date
    documents = [m.document for m in compiled if m.document]
    assert documents == ["窗口工作周报-2022年第31期.docx"]


async def exact_text_arrives_unchanged(story: Story) -> None:
    """Emoji, markup characters and a 5,000-character item arrive as written."""
    await story.bind("商务厅小王", Role.STAFF, "商务厅")
    await story.open_week()
    await story.driver.inbox("商务厅小王")
    for text in (
        "窗口办结率100%🎉👍，群众点赞👨‍👩‍👧",
        "<b>加粗</b> *星号* _下划线_ [链接](http://x) 不是标记。",
        "长" * 5000,
    ):
        await story.submit("商务厅小王", BUSINESS, text)
        await story.pick("商务厅小王", messages.LABEL_DONE)
    stored = [text for _, _, text in await stored_items(story.driver.app)]
    assert stored[:2] == [
        "窗口办结率100%🎉👍，群众点赞👨‍👩‍👧",
        "<b>加粗</b> *星号* _下划线_ [链接](http://x) 不是标记。",
    ]
    assert stored[2] == "长" * 5000
    assert [s for s in (await story.driver.inbox("商务厅小王"))] == []


PASTED = "商务厅窗口延时服务期间共办理\n7463962件业务。"


async def a_pasted_text_with_a_line_break_is_one_item(story: Story) -> None:
    await story.bind("商务厅小王", Role.STAFF, "商务厅")
    await story.open_week()
    await story.driver.inbox("商务厅小王")
    await story.pick("商务厅小王", messages.LABEL_SUBMIT)
    await story.pick("商务厅小王", BUSINESS)

    preview = await story.say("商务厅小王", PASTED)

    # One message, one item: the preview joins the lines into the paragraph the bulletin prints.
    assert texts(preview) == [
        messages.preview(BUSINESS, "商务厅窗口延时服务期间共办理7463962件业务。")
    ]
    assert texts(await story.pick("商务厅小王", messages.LABEL_CONFIRM)) == [messages.submitted(1)]
    assert await stored_items(story.driver.app) == [("商务厅窗口", "business_environment", PASTED)]


COMMENT = "请补充办件数量和时间。"
REVISED_TEXT = "商务厅推广电子营业执照应用，9月13日至16日企业免交纸质营业执照办件326件。"


async def editor_returns_an_item_with_a_comment(story: Story) -> None:
    await story.bind("商务厅小王", Role.STAFF, "商务厅")
    await story.bind("编辑老陈", Role.EDITOR)
    await story.open_week()
    await story.driver.inbox("商务厅小王")
    await story.submit("商务厅小王", BUSINESS, FIRST)
    await story.pick("商务厅小王", messages.LABEL_DONE)

    listing = await story.pick("编辑老陈", messages.LABEL_RETURN)
    assert listing[-1].labels == (messages.item_choice(1), messages.LABEL_BACK)
    asked = await story.pick("编辑老陈", messages.item_choice(1))
    assert texts(asked) == [messages.return_ask_comment("商务厅窗口", FIRST)]
    returned = await story.say("编辑老陈", COMMENT)
    assert texts(returned) == [messages.item_returned("商务厅窗口"), messages.MENU_PROMPT]

    notice = await story.driver.inbox("商务厅小王")
    assert texts(notice) == [messages.returned_to_window(FIRST, COMMENT)]
    assert notice[0].labels == (messages.LABEL_REVISE,)
    asked = await story.pick("商务厅小王", messages.LABEL_REVISE)
    assert texts(asked) == [messages.revise_ask(FIRST)]
    revised = await story.say("商务厅小王", REVISED_TEXT)
    assert texts(revised) == [messages.REVISED]

    assert texts(await story.driver.inbox("编辑老陈")) == [
        messages.item_revised("商务厅窗口", REVISED_TEXT)
    ]
    assert await stored_items(story.driver.app) == [
        ("商务厅窗口", "business_environment", REVISED_TEXT)
    ]


STORIES: dict[str, Callable[[Story], Awaitable[None]]] = {
    "stranger": stranger_is_told_how_to_get_a_code,
    "submit_edit_withdraw": staff_binds_submits_two_edits_one_withdraws_one,
    "no_news": other_window_says_no_news,
    "help_cancel": help_and_cancel_work_in_the_middle,
    "reminder": silent_window_receives_a_reminder,
    "draft_document": editor_receives_the_draft_document,
    "exact_text": exact_text_arrives_unchanged,
    "pasted_text": a_pasted_text_with_a_line_break_is_one_item,
    "return_with_comment": editor_returns_an_item_with_a_comment,
}
