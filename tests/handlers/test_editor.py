"""The editor's commands: status, reminders, the order of items and the draft."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import docx
import pytest

from bot.app import App
from handlers import messages
from handlers.services.draft_delivery import draft_messages, issue_line
from handlers.services.issue_draft import DOCX_MEDIA_TYPE, NoPdf, Typeset, compile_issue
from handlers.services.status_report import period_of
from handlers.types import Choice
from report import messages as report_messages
from report.bulletin import Draft
from storage.models import Role
from storage.repositories import issues, windows
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    COMMERCE,
    COMMERCE_WINDOW,
    HEALTH,
    HEALTH_WINDOW,
    HOUSING,
    HOUSING_WINDOW,
    ITEM,
    OTHER_ITEM,
    SERVICE_EFFICIENCY,
    SERVICE_EFFICIENCY_TITLE,
    THIRD_ITEM,
    add_item,
    all_items,
    current_issue,
    open_week,
    save_reference_figures,
    state_of,
)


async def _active_window_names(app: App) -> list[str]:
    async with app.sessions() as session:
        return [w.name for w in await windows.active_windows(session)]


async def _editor(app: App, channel: RecordingChannel) -> Person:
    return await bound_person(app, channel, "编辑老陈", Role.EDITOR)


async def _three_windows(
    app: App, channel: RecordingChannel
) -> tuple[Person, Person, Person, Person]:
    """Commerce submitted one item, health answered 本周无动态, housing said nothing."""
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    health = await bound_person(app, channel, "卫健委小李", Role.STAFF, HEALTH)
    housing = await bound_person(app, channel, "住建厅小张", Role.STAFF, HOUSING)
    await add_item(app, commerce, SERVICE_EFFICIENCY, ITEM)
    await health.send("本周无动态")
    return commerce, health, housing, await _editor(app, channel)


async def test_status_lists_submitted_no_news_and_silent_windows_when_asked(
    app: App, channel: RecordingChannel
) -> None:
    *_, editor = await _three_windows(app, channel)
    issue = await current_issue(app)
    silent = [
        name
        for name in await _active_window_names(app)
        if name not in (COMMERCE_WINDOW, HEALTH_WINDOW)
    ]

    replies = await editor.send(messages.LABEL_STATUS)

    assert HOUSING_WINDOW in silent
    assert texts(replies) == [
        messages.status_report(
            issue_line(issue),
            period_of(issue),
            [COMMERCE_WINDOW],
            [HEALTH_WINDOW],
            silent,
            1,
            state=messages.issue_state("open", None, None),
        ),
        messages.MENU_PROMPT,
    ]


async def test_reminder_sent_only_to_silent_windows_staff_when_editor_reminds(
    app: App, channel: RecordingChannel
) -> None:
    commerce, health, housing, editor = await _three_windows(app, channel)
    colleague = await bound_person(app, channel, "住建厅小孙", Role.STAFF, HOUSING)
    issue = await current_issue(app)

    replies = await editor.send(messages.LABEL_REMIND)

    unbound = len(await _active_window_names(app)) - 3  # all but commerce, health, housing
    assert texts(replies) == [messages.reminded(1, unbound), messages.MENU_PROMPT]
    reminder = messages.reminder(HOUSING_WINDOW, period_of(issue))
    assert texts(await housing.inbox()) == [reminder]
    assert texts(await colleague.inbox()) == [reminder]
    assert await commerce.inbox() == []
    assert await health.inbox() == []


async def test_reminder_not_sent_when_every_window_with_staff_answered(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, commerce, BUSINESS_ENVIRONMENT, ITEM)
    editor = await _editor(app, channel)

    unbound = len(await _active_window_names(app)) - 1
    assert texts(await editor.send(messages.LABEL_REMIND)) == [
        messages.reminded(0, unbound),
        messages.MENU_PROMPT,
    ]
    assert await commerce.inbox() == []


def test_reminded_says_how_many_silent_windows_have_nobody_bound() -> None:
    assert messages.reminded(1, 21) == (
        "已向 1 个未报送窗口发送提醒；另有 21 个未报送窗口尚无绑定人员，无法提醒，"
        "请联系管理员为其生成邀请码。"
    )
    assert messages.reminded(1, 0) == "已向 1 个未报送窗口发送提醒。"
    assert messages.reminded(0, 0) == "所有窗口都已报送，无需提醒。"


async def test_editor_told_how_many_silent_windows_have_nobody_bound_when_reminding(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    editor = await _editor(app, channel)
    silent = len(await _active_window_names(app))

    replies = await editor.send(messages.LABEL_REMIND)

    assert texts(replies)[0] == messages.reminded(1, silent - 1)


# --- order ---


async def _editor_at_order_list(app: App, channel: RecordingChannel) -> Person:
    """Three items in （二）: two from commerce, then one from health (window order)."""
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    health = await bound_person(app, channel, "卫健委小李", Role.STAFF, HEALTH)
    await add_item(app, health, SERVICE_EFFICIENCY, THIRD_ITEM)
    await add_item(app, commerce, SERVICE_EFFICIENCY, ITEM)
    await add_item(app, commerce, SERVICE_EFFICIENCY, OTHER_ITEM)
    editor = await _editor(app, channel)
    assert texts(await editor.send(messages.LABEL_ORDER)) == [messages.ORDER_ASK_SUBSECTION]
    listing = texts(await editor.send(SERVICE_EFFICIENCY_TITLE))
    assert listing == [
        messages.order_list(
            [
                f"（1）{COMMERCE_WINDOW}：{ITEM}",
                f"（2）{COMMERCE_WINDOW}：{OTHER_ITEM}",
                f"（3）{HEALTH_WINDOW}：{THIRD_ITEM}",
            ]
        )
    ]
    return editor


async def _compiled_items(app: App) -> list[str]:
    async with app.sessions() as session:
        issue = await issues.current_issue(session)
        assert issue is not None
        compiled = await compile_issue(session, issue, app.settings.template, date(2022, 10, 21))
    return [item.text for sub in compiled.draft.subsections for item in sub.items]


async def test_order_rejected_when_not_a_permutation(app: App, channel: RecordingChannel) -> None:
    editor = await _editor_at_order_list(app, channel)

    for typed in ("1 1 3", "5", "1 2", "1 2 3 4", "第一 第二 第三", "3,1,x"):
        assert texts(await editor.send(typed)) == [messages.order_bad(3)], typed
    assert await state_of(app, editor) == "order.list"
    assert [item.position for item in await all_items(app)] == [None, None, None]


async def test_order_rejected_when_positions_are_circled_numbers(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_order_list(app, channel)

    assert texts(await editor.send("③ ① ②")) == [messages.order_bad(3)]


async def test_compiled_order_changed_when_permutation_accepted(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_order_list(app, channel)
    await save_reference_figures(app)
    assert await _compiled_items(app) == [ITEM, OTHER_ITEM, THIRD_ITEM]

    replies = await editor.send("3 1 2")

    assert texts(replies) == [messages.ORDER_SAVED, messages.MENU_PROMPT]
    assert await _compiled_items(app) == [THIRD_ITEM, ITEM, OTHER_ITEM]


async def test_order_accepted_when_separated_by_chinese_commas(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_order_list(app, channel)
    await save_reference_figures(app)

    assert texts(await editor.send("２，３、1"))[0] == messages.ORDER_SAVED
    assert await _compiled_items(app) == [OTHER_ITEM, THIRD_ITEM, ITEM]


async def test_nothing_to_order_answered_when_issue_has_no_items(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    editor = await _editor(app, channel)

    assert texts(await editor.send(messages.LABEL_ORDER)) == [
        messages.NOTHING_TO_ORDER,
        messages.MENU_PROMPT,
    ]


# --- compile ---


async def test_no_items_answered_when_compiling_empty_issue(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    await save_reference_figures(app)
    editor = await _editor(app, channel)

    replies = await editor.send(messages.LABEL_COMPILE)

    assert texts(replies) == [report_messages.NO_ITEMS]
    assert replies[0].document is None
    assert await state_of(app, editor) == "menu.main"


async def test_missing_figures_answered_when_compiling_without_statistics(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, commerce, SERVICE_EFFICIENCY, ITEM)
    editor = await _editor(app, channel)

    replies = await editor.send(messages.LABEL_COMPILE)

    labels = "省本级行政许可事项、公共服务事项、其它九类行权事项"
    assert texts(replies) == [report_messages.MISSING_FIGURES.format(labels=labels)]
    assert replies[0].document is None


async def test_draft_sent_as_document_when_compiling_complete_issue(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, commerce, SERVICE_EFFICIENCY, ITEM)
    await save_reference_figures(app)
    editor = await _editor(app, channel)
    issue = await current_issue(app)
    silent = [name for name in await _active_window_names(app) if name != COMMERCE_WINDOW]

    asked = await editor.send(messages.LABEL_COMPILE)
    assert texts(asked) == [messages.COMPILE_ASK_DATE]
    replies = await editor.send("1")

    assert texts(replies) == [
        messages.draft_ready(
            issue_line(issue), [messages.subsection_count(SERVICE_EFFICIENCY_TITLE, 1)], silent
        )
    ]
    document = replies[0].document
    assert document is not None
    assert document.filename.endswith(".docx")
    assert document.content[:2] == b"PK"


async def _ready_to_compile(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, commerce, SERVICE_EFFICIENCY, ITEM)
    await save_reference_figures(app)
    return await _editor(app, channel)


async def test_issue_date_choices_are_the_next_working_days_when_compiling(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _ready_to_compile(app, channel)
    today = app.clock().date()

    (asked,) = await editor.send(messages.LABEL_COMPILE)

    days = [date.fromisoformat(choice.value.removeprefix("date:")) for choice in asked.choices]
    assert len(days) == 3 and days == sorted(days) and days[0] >= today
    assert all(app.calendar.is_workday(day) for day in days)
    skipped = [today + timedelta(days=n) for n in range((days[-1] - today).days)]
    assert [day for day in skipped if app.calendar.is_workday(day)] == days[:-1]
    assert asked.choices[0].label.startswith(f"{days[0].year}年{days[0].month}月{days[0].day}日（")


async def test_typed_issue_date_is_printed_and_offered_first_when_compiling_again(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _ready_to_compile(app, channel)
    await editor.send(messages.LABEL_COMPILE)

    replies = await editor.send("2022-10-21")

    document = replies[0].document
    assert document is not None
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(document.content)).paragraphs)
    assert "2022年10月21日" in text
    assert (await current_issue(app)).issue_date == date(2022, 10, 21)
    (asked,) = await editor.send(messages.LABEL_COMPILE)
    assert asked.choices[0] == Choice("date:2022-10-21", "2022年10月21日（周五）")


@pytest.mark.parametrize("typed", ["2022-10-22", "2022年10月1日"])  # a Saturday, 国庆节
async def test_issue_date_is_refused_when_not_a_working_day(
    app: App, channel: RecordingChannel, typed: str
) -> None:
    editor = await _ready_to_compile(app, channel)
    await editor.send(messages.LABEL_COMPILE)

    replies = await editor.send(typed)

    assert texts(replies)[0].startswith("2022年10月")
    assert texts(replies)[0].endswith(messages.compile_not_workday("")[1:])
    assert all(reply.document is None for reply in replies)
    assert await state_of(app, editor) == "compile.date"


async def test_issue_date_is_asked_again_when_not_a_date(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _ready_to_compile(app, channel)
    await editor.send(messages.LABEL_COMPILE)

    replies = await editor.send("下周一")

    assert texts(replies)[0] == messages.COMPILE_BAD_DATE
    assert await state_of(app, editor) == "compile.date"


async def test_draft_is_dated_the_next_working_day_when_no_date_was_chosen(
    app: App, channel: RecordingChannel
) -> None:
    await _ready_to_compile(app, channel)
    issue = await current_issue(app)
    saturday = datetime(2022, 9, 17, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

    async with app.sessions() as session:
        fresh = await session.get(type(issue), issue.id)
        assert fresh is not None and fresh.issue_date is None
        sent = await draft_messages(
            session, fresh, app.settings.template, saturday, is_workday=app.calendar.is_workday
        )

    document = sent[0].document
    assert document is not None
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(document.content)).paragraphs)
    assert "2022年9月19日" in text  # the Monday


async def test_draft_comes_with_a_pdf_as_a_second_document_when_laid_out(
    app: App, channel: RecordingChannel
) -> None:
    await _ready_to_compile(app, channel)
    issue = await current_issue(app)

    async def typeset(draft: Draft) -> Typeset:
        return Typeset(b"PK-docx", b"%PDF-1.7 laid out")

    async with app.sessions() as session:
        fresh = await session.get(type(issue), issue.id)
        assert fresh is not None
        sent = await draft_messages(session, fresh, app.settings.template, app.clock(), typeset)

    assert [(m.document.filename, m.document.media_type) for m in sent if m.document] == [
        ("窗口工作周报-2022年第31期.docx", DOCX_MEDIA_TYPE),
        ("窗口工作周报-2022年第31期.pdf", "application/pdf"),
    ]
    assert sent[1].text == messages.draft_pdf(issue_line(issue))


async def test_draft_says_why_there_is_no_pdf_when_libreoffice_is_missing(
    app: App, channel: RecordingChannel
) -> None:
    await _ready_to_compile(app, channel)
    issue = await current_issue(app)

    async def typeset(draft: Draft) -> Typeset:
        return Typeset(b"PK-docx", None, NoPdf.NO_OFFICE)

    async with app.sessions() as session:
        fresh = await session.get(type(issue), issue.id)
        assert fresh is not None
        (sent,) = await draft_messages(session, fresh, app.settings.template, app.clock(), typeset)

    assert sent.text.endswith("\n" + messages.NO_PDF["no_office"])
    assert sent.document is not None and sent.document.filename.endswith(".docx")


async def test_staff_cannot_compile_when_typing_draft_keyword(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)

    replies = await commerce.send("草稿")

    assert texts(replies) == [messages.EDITOR_ONLY, messages.MENU_PROMPT]
    assert all(reply.document is None for reply in replies)
