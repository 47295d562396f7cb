"""The automatic week, with the clock moved through whole weeks (no sleeps).

Every message that would be sent is checked through the outbox and a recording channel.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta

import pytest

from bot.app import App
from handlers import messages
from handlers.services.draft_delivery import issue_line
from report import messages as report_messages
from report.dates import format_period
from scheduler.clock import SHANGHAI, FrozenClock
from scheduler.jobs import run_due_jobs
from storage.models import Issue, IssueStatus, Role
from storage.repositories import issues, members, submissions, windows
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import save_reference_figures

ITEM = "本周窗口办结业务4082件。"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


class Week:
    """A hall with two windows' staff and an editor, and a clock to move."""

    def __init__(self, app: App, clock: FrozenClock, people: dict[str, Person]) -> None:
        self.app = app
        self.clock = clock
        self.people = people

    async def run_at(self, when: datetime) -> list[str]:
        self.clock.set(when)
        return await run_due_jobs(self.app.sessions, self.app.week, when)

    async def issue(self) -> Issue:
        async with self.app.sessions() as session:
            issue = await issues.current_issue(session)
        assert issue is not None
        return issue


async def _hall(app: App, channel: RecordingChannel, clock: FrozenClock, start: datetime) -> Week:
    clock.set(start)
    people = {
        "commerce": await bound_person(app, channel, "商务厅小王", Role.STAFF, "商务厅"),
        "housing": await bound_person(app, channel, "住建厅小张", Role.STAFF, "住建厅"),
        "editor": await bound_person(app, channel, "编辑老陈", Role.EDITOR),
    }
    for person in people.values():
        await person.inbox()
    return Week(app, clock, people)


async def _submit(person: Person) -> None:
    await person.say_all("1", "1", ITEM, "1", "2")
    await person.inbox()


async def test_plain_week_prompts_reminds_silent_and_delivers_draft(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    monday = date(2022, 9, 19)
    week = await _hall(app, channel, clock, at(monday, 8))
    commerce, housing, editor = (week.people[k] for k in ("commerce", "housing", "editor"))
    period = format_period(monday, date(2022, 9, 23))

    # A first start opens the week's issue at once; its windows hear of it at 09:00.
    assert await week.run_at(at(monday, 8, 59)) == ["open 2022-09-19"]
    assert texts(await commerce.inbox()) == []
    assert await week.run_at(at(monday, 9)) == ["prompt 2022-09-19 2"]
    assert texts(await commerce.inbox()) == [messages.weekly_prompt("商务厅窗口", period)]
    assert texts(await housing.inbox()) == [messages.weekly_prompt("住建厅窗口", period)]
    await _submit(commerce)
    await save_reference_figures(app)

    thursday, friday = date(2022, 9, 22), date(2022, 9, 23)
    assert await week.run_at(at(thursday, 14, 59)) == []
    assert await week.run_at(at(thursday, 15)) == [f"remind {at(thursday, 15).isoformat()} 1"]
    assert await week.run_at(at(thursday, 15, 1)) == []
    assert texts(await housing.inbox()) == [messages.reminder("住建厅窗口", period)]
    assert texts(await commerce.inbox()) == []  # it has submitted
    assert await week.run_at(at(friday, 9)) == [f"remind {at(friday, 9).isoformat()} 1"]
    assert texts(await housing.inbox()) == [messages.reminder("住建厅窗口", period)]

    assert await week.run_at(at(friday, 12)) == ["close 2022-09-19"]
    assert await week.run_at(at(friday, 12, 1)) == []
    delivered = await editor.inbox()
    assert len(delivered) == 1 and delivered[0].document is not None
    assert delivered[0].text.startswith(f"{issue_line(await week.issue())}草稿已生成")
    assert (await week.issue()).status == IssueStatus.CLOSED


async def test_mid_autumn_week_opens_on_tuesday(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    week = await _hall(app, channel, clock, at(date(2022, 9, 12), 8))

    assert await week.run_at(at(date(2022, 9, 12), 9)) == ["open 2022-09-13"]  # 中秋节
    assert texts(await week.people["housing"].inbox()) == []
    assert await week.run_at(at(date(2022, 9, 13), 8, 59)) == []
    assert await week.run_at(at(date(2022, 9, 13), 9)) == ["prompt 2022-09-13 2"]
    issue = await week.issue()
    assert (issue.period_start, issue.period_end, issue.number, issue.total_number) == (
        date(2022, 9, 13),
        date(2022, 9, 16),
        31,
        406,
    )


async def test_make_up_saturday_is_the_last_day_of_its_week(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    # 2023-05-01…03 were the Labour Day holiday; Saturday 6 May was a make-up working day.
    week = await _hall(app, channel, clock, at(date(2023, 5, 1), 8))
    housing = week.people["housing"]

    assert await week.run_at(at(date(2023, 5, 3), 9)) == ["open 2023-05-04"]
    assert texts(await housing.inbox()) == []
    assert await week.run_at(at(date(2023, 5, 4), 9)) == ["prompt 2023-05-04 2"]
    period = format_period(date(2023, 5, 4), date(2023, 5, 6))
    assert texts(await housing.inbox()) == [messages.weekly_prompt("住建厅窗口", period)]
    friday_reminder = at(date(2023, 5, 5), 15)
    assert await week.run_at(friday_reminder) == [f"remind {friday_reminder.isoformat()} 2"]
    assert await week.run_at(at(date(2023, 5, 5), 16)) == []
    assert await week.run_at(at(date(2023, 5, 6), 12)) == ["close 2023-05-04"]


async def test_week_without_working_days_gets_no_issue_and_numbering_continues(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    # 2017-10-02…08 was all National Day holiday.
    week = await _hall(app, channel, clock, at(date(2017, 9, 25), 8))
    assert await week.run_at(at(date(2017, 9, 25), 9)) == ["open 2017-09-25"]
    first = await week.issue()
    moments = [at(date(2017, 10, 2) + timedelta(days=d), h) for d in range(7) for h in (9, 12, 15)]
    done = [job for moment in moments for job in await week.run_at(moment)]
    assert done == ["close 2017-09-25"]  # last week's deadline passed (30 Sep was a workday)
    assert await week.run_at(at(date(2017, 10, 9), 9)) == ["open 2017-10-09"]
    second = await week.issue()
    assert (second.number, second.total_number) == (first.number + 1, first.total_number + 1)


async def test_week_spanning_new_year_is_numbered_in_the_new_year(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    # 2025-12-29…31 and Sunday 2026-01-04 (a make-up day) are that week's working days.
    week = await _hall(app, channel, clock, at(date(2025, 12, 22), 8))
    assert await week.run_at(at(date(2025, 12, 22), 9)) == ["open 2025-12-22"]
    december = await week.issue()
    assert await week.run_at(at(date(2025, 12, 26), 12)) == ["close 2025-12-22"]
    assert await week.run_at(at(date(2025, 12, 29), 9)) == ["open 2025-12-29"]
    spanning = await week.issue()
    assert (spanning.year, spanning.number, spanning.total_number, spanning.period_end) == (
        2026,
        1,
        december.total_number + 1,
        date(2026, 1, 4),
    )


async def test_year_without_calendar_data_falls_back_to_monday_to_friday(
    app: App, channel: RecordingChannel, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    monday = date(2099, 3, 2)
    week = await _hall(app, channel, clock, at(monday, 8))
    with caplog.at_level(logging.WARNING, logger="scheduler.calendar"):
        assert await week.run_at(at(monday, 9)) == ["open 2099-03-02"]
    issue = await week.issue()
    assert (issue.period_start, issue.period_end) == (monday, date(2099, 3, 6))
    assert any("2099" in str(record.__dict__.get("year", "")) for record in caplog.records)


async def test_downtime_opens_late_sends_only_the_latest_reminder_and_compiles(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    week = await _hall(app, channel, clock, at(date(2022, 9, 16), 8))
    housing = week.people["housing"]
    monday, friday = date(2022, 9, 19), date(2022, 9, 23)
    period = format_period(monday, friday)

    # Down until Thursday 16:00: open now; the reminder planned an hour ago would only
    # repeat the prompt. Down again until Friday 10:00: only Friday morning's reminder.
    assert await week.run_at(at(date(2022, 9, 22), 16)) == ["open 2022-09-19"]
    assert await week.run_at(at(date(2022, 9, 22), 16, 1)) == []
    assert await week.run_at(at(friday, 10)) == [f"remind {at(friday, 9).isoformat()} 2"]
    assert texts(await housing.inbox()) == [
        messages.weekly_prompt("住建厅窗口", period),
        messages.reminder("住建厅窗口", period),
    ]
    # Down again over the deadline: the draft (here: why it cannot be made) comes once.
    assert await week.run_at(at(date(2022, 9, 26), 8)) == ["close 2022-09-19"]
    assert await week.run_at(at(date(2022, 9, 26), 8, 30)) == []
    assert len(await week.people["editor"].inbox()) == 1


async def test_week_skipped_with_a_log_line_when_down_past_its_deadline(
    app: App, channel: RecordingChannel, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    week = await _hall(app, channel, clock, at(date(2022, 9, 13), 8))
    assert await week.run_at(at(date(2022, 9, 13), 9)) == ["open 2022-09-13"]
    assert await week.run_at(at(date(2022, 9, 16), 12)) == ["close 2022-09-13"]
    await week.people["housing"].inbox()
    with caplog.at_level(logging.WARNING, logger="scheduler.jobs"):
        done = await week.run_at(at(date(2022, 9, 26), 8))  # missed all of 19–23 September
        again = await week.run_at(at(date(2022, 9, 26), 8, 1))
    assert (done, again) == (["skip 2022-09-19"], [])
    assert [r.getMessage() for r in caplog.records] == [
        "week skipped: its deadline passed before the issue was opened"
    ]
    assert texts(await week.people["housing"].inbox()) == []


async def test_first_start_on_a_saturday_opens_next_week_and_prompts_on_monday(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    saturday, monday, friday = date(2022, 9, 17), date(2022, 9, 19), date(2022, 9, 23)
    week = await _hall(app, channel, clock, at(saturday, 10))
    housing, editor = week.people["housing"], week.people["editor"]

    assert await week.run_at(at(saturday, 10)) == ["open 2022-09-19"]
    issue = await week.issue()
    assert (issue.period_start, issue.period_end, issue.status, issue.deadline_at) == (
        monday,
        friday,
        IssueStatus.OPEN,
        at(friday, 12),
    )
    assert await week.run_at(at(date(2022, 9, 18), 23, 59)) == []
    assert texts(await housing.inbox()) == []
    assert await week.run_at(at(monday, 9)) == ["prompt 2022-09-19 2"]
    assert await week.run_at(at(monday, 9, 1)) == []
    period = format_period(monday, friday)
    assert texts(await housing.inbox()) == [messages.weekly_prompt("住建厅窗口", period)]
    assert await editor.inbox() == []  # nothing was compiled


async def test_first_start_after_the_deadline_opens_next_week_and_compiles_nothing(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    friday = date(2022, 9, 16)  # the deadline was 12:00
    week = await _hall(app, channel, clock, at(friday, 14))

    assert await week.run_at(at(friday, 14)) == ["open 2022-09-19"]
    assert await week.run_at(at(friday, 14, 1)) == []
    assert (await week.issue()).period_start == date(2022, 9, 19)
    assert await week.people["editor"].inbox() == []
    assert await week.people["housing"].inbox() == []


async def test_prompt_goes_out_once_when_two_ticks_race_at_the_opening_time(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    week = await _hall(app, channel, clock, at(date(2022, 9, 17), 10))
    await week.run_at(at(date(2022, 9, 17), 10))
    monday_nine = at(date(2022, 9, 19), 9)

    first, second = await asyncio.gather(week.run_at(monday_nine), week.run_at(monday_nine))

    assert sorted([first, second]) == [[], ["prompt 2022-09-19 2"]]
    assert len(await week.people["housing"].inbox()) == 1


async def _plant_item(app: App, text: str) -> None:
    """Store an item as if the text gate had been bypassed (an old row, a direct import)."""
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        window = await windows.find_window(session, "商务厅")
        assert issue is not None and window is not None
        author = (await members.members_of_window(session, window.id))[0]
        await submissions.add_item(
            session,
            issue_id=issue.id,
            window_id=window.id,
            subsection="business_environment",
            text=text,
            author_id=author.id,
            now=issue.opened_at,
        )


async def test_poisoned_item_gets_the_editor_a_clear_refusal_and_next_week_still_opens(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    monday, friday = date(2022, 9, 19), date(2022, 9, 23)
    week = await _hall(app, channel, clock, at(monday, 9))
    assert await week.run_at(at(monday, 9)) == ["open 2022-09-19"]
    await _plant_item(app, "本周办结\uffff业务4082件。")
    await save_reference_figures(app)

    assert await week.run_at(at(friday, 12)) == ["close 2022-09-19"]
    notice = texts(await week.people["editor"].inbox())
    assert notice == [
        messages.draft_failed(issue_line(await week.issue()), report_messages.RENDER_FAILED)
    ]
    assert await week.run_at(at(date(2022, 9, 26), 9)) == ["open 2022-09-26"]


async def test_a_failing_job_is_reported_once_retried_and_never_blocks_the_next_week(
    app: App,
    channel: RecordingChannel,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monday, friday, next_monday = date(2022, 9, 19), date(2022, 9, 23), date(2022, 9, 26)
    week = await _hall(app, channel, clock, at(monday, 9))
    assert await week.run_at(at(monday, 9)) == ["open 2022-09-19"]
    editor = week.people["editor"]

    # A stand-in for a bug in compiling (no real fault raises here any more): the only mock.
    async def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("compile crashed")

    monkeypatch.setattr("scheduler.jobs.queue_draft", broken)
    with caplog.at_level(logging.WARNING, logger="scheduler.jobs"):
        assert await week.run_at(at(friday, 12)) == ["failed close 2022-09-19"]
        assert await week.run_at(at(friday, 12, 1)) == ["failed close 2022-09-19"]
        done = await week.run_at(at(next_monday, 9))
    period = format_period(monday, friday)
    assert texts(await editor.inbox()) == [
        messages.job_failed("close", period, "RuntimeError: compile crashed")
    ]
    assert [record.exc_info is not None for record in caplog.records] == [True, False, False]
    # Last week's deadline is still retried; this week's issue opened all the same.
    assert done == ["failed close 2022-09-19", "open 2022-09-26"]

    monkeypatch.undo()
    assert await week.run_at(at(next_monday, 9, 1)) == ["close 2022-09-19"]
    assert len(await editor.inbox()) == 1  # the draft (here: why it cannot be made yet)
