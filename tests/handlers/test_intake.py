"""Window staff submit items: subsection, text, preview, confirm; and 本周无动态."""

from __future__ import annotations

import pytest

from bot.app import App
from handlers import messages
from handlers.registry import STAFF_MENU
from storage.models import IssueStatus, ItemStatus, Role
from storage.repositories import issues
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    BUSINESS_ENVIRONMENT_TITLE,
    COMMERCE,
    COMMERCE_WINDOW,
    ITEM,
    OTHER_ITEM,
    SERVICE_EFFICIENCY,
    SERVICE_EFFICIENCY_TITLE,
    add_item,
    all_items,
    close_current_issue,
    current_issue,
    open_week,
    state_of,
    submit,
    window_items,
    window_report,
)

RAW = "本周办理业务 4082 件,群众满意"
NORMALISED = "本周办理业务4082件，群众满意。"


async def _staff(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    return await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)


async def _at_text_step(app: App, channel: RecordingChannel) -> Person:
    staff = await _staff(app, channel)
    await staff.say_all("1", "1")  # 提交动态, （一）优化营商环境工作开展情况
    return staff


async def _at_preview(app: App, channel: RecordingChannel) -> Person:
    staff = await _at_text_step(app, channel)
    await staff.send(RAW)
    return staff


async def test_item_stored_with_raw_text_when_submission_confirmed(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)

    assert texts(await staff.send("1")) == [messages.ASK_SUBSECTION]
    assert texts(await staff.send("1")) == [messages.ask_text(BUSINESS_ENVIRONMENT_TITLE)]
    assert texts(await staff.send(RAW)) == [
        messages.preview(BUSINESS_ENVIRONMENT_TITLE, NORMALISED)
    ]
    assert texts(await staff.send("1")) == [messages.submitted(1)]
    finished = await staff.send("2")
    assert [(m.text, m.choices) for m in finished] == [(messages.finished(1), STAFF_MENU)]

    items = await all_items(app)
    issue = await current_issue(app)
    assert [(i.issue_id, i.subsection, i.text, i.status) for i in items] == [
        (issue.id, BUSINESS_ENVIRONMENT, RAW, ItemStatus.CONFIRMED)
    ]
    assert await state_of(app, staff) == "menu.main"  # the menu is at hand again


async def test_preview_shows_normalised_punctuation_when_text_sent(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    preview = await staff.send(RAW)

    assert texts(preview) == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, NORMALISED)]
    assert [c.label for c in preview[0].choices] == [
        messages.LABEL_CONFIRM,
        messages.LABEL_CHANGE,
        messages.LABEL_CANCEL,
    ]


async def test_text_asked_again_when_change_chosen_at_preview(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_preview(app, channel)

    assert texts(await staff.send("2")) == [messages.ask_text(BUSINESS_ENVIRONMENT_TITLE)]
    assert texts(await staff.send(ITEM)) == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, ITEM)]
    await staff.say_all("1", "2")
    assert [i.text for i in await all_items(app)] == [ITEM]


async def test_nothing_stored_when_cancelled_at_subsection(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)
    await staff.send("1")

    assert texts(await staff.send("取消")) == [messages.CANCELLED, messages.MENU_PROMPT]
    assert await all_items(app) == []
    assert await state_of(app, staff) == "menu.main"


async def test_nothing_stored_when_cancelled_at_text(app: App, channel: RecordingChannel) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send("取消")) == [messages.CANCELLED, messages.MENU_PROMPT]
    assert await all_items(app) == []
    assert await state_of(app, staff) == "menu.main"


async def test_nothing_stored_when_cancelled_at_preview(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_preview(app, channel)

    assert texts(await staff.send("取消")) == [messages.CANCELLED, messages.MENU_PROMPT]
    assert await all_items(app) == []


async def test_nothing_stored_when_cancel_button_tapped_at_preview(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_preview(app, channel)

    assert texts(await staff.send(choice="cancel")) == [messages.CANCELLED]
    assert await all_items(app) == []
    assert await state_of(app, staff) == "menu.main"


async def test_help_answered_and_subsection_kept_when_help_asked_at_subsection(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)
    await staff.send("1")

    replies = await staff.send("帮助")

    assert texts(replies) == [messages.ASK_SUBSECTION_HELP, messages.ASK_SUBSECTION]
    assert texts(await staff.send("2")) == [messages.ask_text(SERVICE_EFFICIENCY_TITLE)]


async def test_help_answered_and_text_step_kept_when_help_asked_at_text(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    replies = await staff.send("帮助")

    assert texts(replies) == [
        messages.ASK_TEXT_HELP,
        messages.ask_text(BUSINESS_ENVIRONMENT_TITLE),
    ]
    assert texts(await staff.send(RAW)) == [
        messages.preview(BUSINESS_ENVIRONMENT_TITLE, NORMALISED)
    ]


async def test_help_answered_and_preview_kept_when_help_asked_at_preview(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_preview(app, channel)

    replies = await staff.send("?")

    assert texts(replies) == [
        messages.PREVIEW_HELP,
        messages.preview(BUSINESS_ENVIRONMENT_TITLE, NORMALISED),
    ]
    assert texts(await staff.send("1")) == [messages.submitted(1)]
    assert [i.text for i in await all_items(app)] == [RAW]


async def test_help_answered_and_more_kept_when_help_asked_after_confirming(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_preview(app, channel)
    await staff.send("1")

    assert texts(await staff.send("帮助")) == [messages.MORE_HELP, messages.submitted(1)]
    assert texts(await staff.send("2")) == [messages.finished(1)]


async def test_choices_selected_when_labels_typed(app: App, channel: RecordingChannel) -> None:
    staff = await _staff(app, channel)

    await staff.send(messages.LABEL_SUBMIT)
    assert texts(await staff.send(SERVICE_EFFICIENCY_TITLE)) == [
        messages.ask_text(SERVICE_EFFICIENCY_TITLE)
    ]
    await staff.send(ITEM)
    assert texts(await staff.send(messages.LABEL_CONFIRM)) == [messages.submitted(1)]
    assert texts(await staff.send(messages.LABEL_DONE)) == [messages.finished(1)]
    assert [(i.subsection, i.text) for i in await all_items(app)] == [(SERVICE_EFFICIENCY, ITEM)]


async def test_choices_selected_when_full_width_numbers_typed(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)

    await staff.say_all("１", "２", ITEM, "１", "２")

    assert [(i.subsection, i.text) for i in await all_items(app)] == [(SERVICE_EFFICIENCY, ITEM)]


async def test_choices_selected_when_buttons_tapped(app: App, channel: RecordingChannel) -> None:
    staff = await _staff(app, channel)

    await staff.send(choice="submit")
    assert texts(await staff.send(choice="sub:service_efficiency")) == [
        messages.ask_text(SERVICE_EFFICIENCY_TITLE)
    ]
    await staff.send(ITEM)
    assert texts(await staff.send(choice="confirm")) == [messages.submitted(1)]
    assert texts(await staff.send(choice="done")) == [messages.finished(1)]
    assert [(i.subsection, i.text) for i in await all_items(app)] == [(SERVICE_EFFICIENCY, ITEM)]


async def test_subsection_asked_again_when_number_out_of_range(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)
    await staff.send("1")

    assert texts(await staff.send("3")) == [messages.CHOOSE_NUMBER]
    assert texts(await staff.send("1")) == [messages.ask_text(BUSINESS_ENVIRONMENT_TITLE)]


async def test_second_item_stored_when_add_more_chosen(app: App, channel: RecordingChannel) -> None:
    staff = await _at_preview(app, channel)
    await staff.send("1")

    assert texts(await staff.send("1")) == [messages.ASK_SUBSECTION]
    await staff.say_all("2", OTHER_ITEM, "1")
    assert texts(await staff.send("2")) == [messages.finished(2)]
    assert [(i.subsection, i.text) for i in await window_items(app, COMMERCE)] == [
        (BUSINESS_ENVIRONMENT, RAW),
        (SERVICE_EFFICIENCY, OTHER_ITEM),
    ]


async def test_no_news_recorded_when_window_has_no_items(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)

    assert texts(await staff.send("本周无动态")) == [messages.no_news_recorded(COMMERCE_WINDOW)]
    report = await window_report(app, COMMERCE)
    assert report is not None
    assert report.no_news is True


async def test_no_news_refused_when_window_has_items(app: App, channel: RecordingChannel) -> None:
    staff = await _staff(app, channel)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await add_item(app, staff, SERVICE_EFFICIENCY, OTHER_ITEM)

    assert texts(await staff.send(messages.LABEL_NO_NEWS)) == [messages.no_news_but_items(2)]
    assert await window_report(app, COMMERCE) is None


async def test_no_news_cleared_when_item_submitted_afterwards(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)
    await staff.send("本周无动态")

    await submit(staff, "1", ITEM)

    report = await window_report(app, COMMERCE)
    assert report is not None
    assert report.no_news is False
    assert [i.text for i in await window_items(app, COMMERCE)] == [ITEM]


async def test_intake_refused_when_no_issue_open(app: App, channel: RecordingChannel) -> None:
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)

    assert texts(await staff.send("1")) == [messages.NO_OPEN_ISSUE]
    assert await state_of(app, staff) == "menu.main"


async def test_intake_continues_when_issue_closed(app: App, channel: RecordingChannel) -> None:
    staff = await _staff(app, channel)
    await close_current_issue(app)

    assert texts(await staff.send("1")) == [messages.ASK_SUBSECTION]
    assert await state_of(app, staff) == "intake.subsection"


async def test_item_stored_late_and_editor_told_when_issue_closed_before_confirming(
    app: App, channel: RecordingChannel
) -> None:
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.inbox()
    staff = await _at_preview(app, channel)
    await close_current_issue(app)

    assert texts(await staff.send("1")) == [messages.SUBMITTED_LATE]
    assert [(item.text, item.late) for item in await all_items(app)] == [(RAW, True)]
    assert texts(await editor.inbox()) == [messages.late_item("商务厅窗口")]


async def test_intake_refused_when_issue_published(app: App, channel: RecordingChannel) -> None:
    staff = await _staff(app, channel)
    async with app.sessions() as session, session.begin():
        issue = await issues.current_issue(session)
        assert issue is not None
        issue.status = IssueStatus.PUBLISHED

    assert texts(await staff.send("1")) == [messages.ISSUE_CLOSED]
    assert await all_items(app) == []


@pytest.mark.parametrize("role", [Role.EDITOR, Role.INSPECTOR])
async def test_submit_not_offered_when_member_is_not_staff(
    app: App, channel: RecordingChannel, role: Role
) -> None:
    await open_week(app)
    person = await bound_person(app, channel, "大厅人员", role)

    assert texts(await person.send(messages.LABEL_SUBMIT)) == [
        messages.STAFF_ONLY,
        messages.MENU_PROMPT,
    ]
    assert await state_of(app, person) == "menu.main"


async def test_a_pasted_text_with_a_line_break_is_one_item(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _staff(app, channel)
    await staff.say_all("1", "1")
    pasted = "延时服务期间共办理\n7463962件业务。"

    preview = await staff.send(pasted)
    await staff.say_all("1", "2")

    assert texts(preview) == [
        messages.preview(BUSINESS_ENVIRONMENT_TITLE, "延时服务期间共办理7463962件业务。")
    ]
    assert [item.text for item in await all_items(app)] == [pasted]  # stored as written
