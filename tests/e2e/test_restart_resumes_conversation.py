"""User story: zhoubao is restarted while a window is half-way through submitting an item.

The second app shares only the database with the first (new engine, new connections, no
memory), as after a process restart; the staff member continues at the same step.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from handlers import messages
from scheduler.clock import FrozenClock
from scheduler.jobs import open_issue
from storage.models import ItemStatus, Role
from storage.repositories import issues, submissions
from tests.fakes import Person, RecordingChannel, bound_person, start_app, texts

ITEM = "本周窗口办结业务4082件，群众满意率100%。"


async def test_submission_continues_at_same_step_when_app_restarted(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    first = await start_app(tmp_path, db_url, clock)
    channel = RecordingChannel()
    staff = await bound_person(first, channel, "商务厅小王", Role.STAFF, "商务厅")
    async with first.sessions() as session, session.begin():
        await open_issue(session, first.calendar, date(2022, 9, 14), first.numbering, clock.now())
    await staff.say_all("1", "2")  # 提交动态, then （二）窗口服务效能提升工作情况
    await first.close()

    second = await start_app(tmp_path, db_url, clock)
    try:
        resumed = Person(second, "商务厅小王", channel)
        await resumed.inbox()
        preview = await resumed.send(ITEM)
        assert preview[0].text == messages.preview("窗口服务效能提升工作情况", ITEM)
        confirm = preview[0].choices[0]
        assert texts(await resumed.send(choice=confirm.value)) == [messages.submitted(1)]
        async with second.sessions() as session:
            issue = await issues.current_issue(session)
            assert issue is not None
            rows = await submissions.issue_items(session, issue.id)
        assert [(item.subsection, item.text, item.status) for item, _ in rows] == [
            ("service_efficiency", ITEM, ItemStatus.CONFIRMED)
        ]
    finally:
        await second.close()


async def test_redelivered_update_changes_nothing_when_app_restarted(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    first = await start_app(tmp_path, db_url, clock)
    channel = RecordingChannel()
    staff = await bound_person(first, channel, "商务厅小王", Role.STAFF, "商务厅")
    async with first.sessions() as session, session.begin():
        await open_issue(session, first.calendar, date(2022, 9, 14), first.numbering, clock.now())
    await staff.say_all("1", "1", ITEM)
    confirmed = await staff.send("1", update_id="confirm-42")
    assert texts(confirmed) == [messages.submitted(1)]
    await first.close()

    # Telegram, for one, redelivers the last batch after a crash: the same update id again.
    second = await start_app(tmp_path, db_url, clock)
    try:
        again = Person(second, "商务厅小王", channel)
        await again.inbox()
        assert await again.send("1", update_id="confirm-42") == []
        async with second.sessions() as session:
            issue = await issues.current_issue(session)
            assert issue is not None
            assert len(await submissions.issue_items(session, issue.id)) == 1
        # The conversation is still where the first confirmation left it.
        assert texts(await again.send("2")) == [messages.finished(1)]
    finally:
        await second.close()
