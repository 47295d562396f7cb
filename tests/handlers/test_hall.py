"""The editor's control of the week: extend the deadline, reopen or exempt one window."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.app import App
from handlers import messages
from handlers.conversations.deadline import extension_choices, when_label
from handlers.services.prompts import PromptKind, prompt_windows
from scheduler.calendar import WorkCalendar
from scheduler.clock import SHANGHAI, FrozenClock
from scheduler.jobs import run_due_jobs
from storage.models import IssueStatus, Role
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import all_items, close_current_issue, current_issue, open_week


async def _editor(app: App, channel: RecordingChannel) -> Person:
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.inbox()
    return editor


async def _choose_window(editor: Person, window_name: str) -> None:
    listing = await editor.send(messages.LABEL_WINDOWS)
    labels = [c.label for c in listing[-1].choices]
    number = next(i for i, label in enumerate(labels, 1) if label.startswith(window_name))
    await editor.send(str(number))


async def test_closed_issue_reopens_until_new_deadline_when_editor_extends(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    editor = await _editor(app, channel)
    await close_current_issue(app)

    offered = await editor.send(messages.LABEL_EXTEND)
    evening = datetime(2022, 9, 14, 18, tzinfo=SHANGHAI)  # the clock says Wednesday 10:00
    labels = [c.label for c in offered[-1].choices]
    assert labels == [
        "9月14日（周三）12:00",
        "9月14日（周三）18:00",
        "9月15日（周四）12:00",
        "9月15日（周四）18:00",
    ]
    replies = await editor.send("2")
    assert texts(replies)[0] == messages.deadline_moved(when_label(evening))
    issue = await current_issue(app)
    assert (issue.status, issue.deadline_at) == (IssueStatus.OPEN, evening)

    # At the new deadline the week's job closes it again and sends the draft once more.
    clock.set(evening)
    assert await run_due_jobs(app.sessions, app.week, evening) == ["close 2022-09-13"]
    assert len(await editor.inbox()) == 1


async def test_window_submits_on_time_after_deadline_when_editor_reopens_it(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    editor = await _editor(app, channel)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, "商务厅")
    await staff.inbox()
    await close_current_issue(app)

    await _choose_window(editor, "商务厅窗口")
    assert texts(await editor.send(messages.LABEL_REOPEN))[0] == messages.window_reopened(
        "商务厅窗口"
    )
    assert texts(await staff.inbox()) == [messages.reopened("商务厅窗口")]
    await staff.say_all("1", "1", "本周办结业务100件。")
    assert texts(await staff.send("1")) == [messages.submitted(1)]
    assert [item.late for item in await all_items(app)] == [False]


async def test_exempt_window_not_reminded_nor_listed_silent_when_editor_exempts_it(
    app: App, channel: RecordingChannel
) -> None:
    issue = await open_week(app)
    editor = await _editor(app, channel)
    staff = await bound_person(app, channel, "住建厅小张", Role.STAFF, "住建厅")
    await staff.inbox()

    await _choose_window(editor, "住建厅窗口")
    assert texts(await editor.send(messages.LABEL_EXEMPT))[0] == messages.window_exempt(
        "住建厅窗口", True
    )
    async with app.sessions() as session, session.begin():
        reached = await prompt_windows(session, issue, PromptKind.REMIND, app.clock())
    assert (reached, texts(await staff.inbox())) == (0, [])
    status = texts(await editor.send(messages.LABEL_STATUS))[0].splitlines()
    silent = next(line for line in status if line.startswith("未报送"))
    assert ("住建厅窗口" in silent, status[-2]) == (False, "免报（1）：住建厅窗口")


def _at(month: int, day: int, hour: int) -> datetime:
    return datetime(2022, month, day, hour, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "offered"),
    [
        # Wednesday morning: in two hours, this evening, then tomorrow.
        (_at(9, 14, 10), [_at(9, 14, 12), _at(9, 14, 18), _at(9, 15, 12), _at(9, 15, 18)]),
        # Saturday: nothing this weekend; Monday and Tuesday.
        (_at(9, 17, 10), [_at(9, 19, 12), _at(9, 19, 18), _at(9, 20, 12), _at(9, 20, 18)]),
        # Friday before National Day 2022 (1–7 October off): the make-up Saturday 8 October.
        (_at(9, 30, 17), [_at(9, 30, 18), _at(9, 30, 19), _at(10, 8, 12), _at(10, 8, 18)]),
        # Late on a working day: nothing today any more.
        (_at(9, 14, 23), [_at(9, 15, 12), _at(9, 15, 18), _at(9, 16, 12), _at(9, 16, 18)]),
    ],
)
def test_deadline_extensions_fall_on_working_days_of_the_calendar(
    now: datetime, offered: list[datetime]
) -> None:
    calendar = WorkCalendar()

    choices = extension_choices(now, SHANGHAI, calendar.is_workday)

    assert choices == offered
    assert all(calendar.is_workday(choice.date()) for choice in choices)


async def test_editor_offered_monday_times_when_extending_on_a_saturday(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    editor = await _editor(app, channel)
    clock.set(_at(9, 17, 10))

    offered = await editor.send(messages.LABEL_EXTEND)

    assert [c.label for c in offered[-1].choices][:2] == [
        "9月19日（周一）12:00",
        "9月19日（周一）18:00",
    ]
    assert messages.ask_deadline(messages.NONE) == offered[-1].text  # opened without a deadline
