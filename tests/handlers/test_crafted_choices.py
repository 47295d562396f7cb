"""Crafted button values and typed numbers: every one a Chinese refusal, never an error."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from bot.app import App
from handlers import messages
from scheduler.clock import SHANGHAI, FrozenClock
from storage.models import ConversationState, Role
from storage.repositories import conversations, figures
from tests.fakes import Person, RecordingChannel, bound_person, invite_code, texts
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    COMMERCE,
    ITEM,
    OTHER_ITEM,
    SERVICE_EFFICIENCY,
    add_item,
    all_items,
    current_issue,
    member_of,
    open_week,
    save_reference_figures,
    state_of,
    stored_state,
    window_items,
)


@pytest.mark.parametrize("value", ["item:²", "item:" + "9" * 30, "item:٣", "item:-1", "item:"])
async def test_a_crafted_item_id_is_refused_not_an_error(
    app: App, channel: RecordingChannel, value: str
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await staff.send(messages.LABEL_MY_ITEMS)

    assert texts(await staff.send(choice=value)) == [messages.CHOOSE_NUMBER]
    assert await state_of(app, staff) == "items.list"


@pytest.mark.parametrize("value", ["win:" + "9" * 20, "win:" + "9" * 10, "win:٣", "win:0"])
async def test_a_crafted_window_id_is_refused_not_an_error(
    app: App, channel: RecordingChannel, value: str
) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.send(messages.LABEL_WINDOWS)

    assert texts(await editor.send(choice=value)) == [messages.CHOOSE_NUMBER]
    assert await state_of(app, editor) == "hall.window"


@pytest.mark.parametrize(
    "value",
    [
        "until:9999-12-31T23:59:59-14:00",
        "until:2099-09-14T18:00:00+08:00",
        "until:2022-09-16T12:00:00+08:00",  # a working day, but not offered
        "until:2022-09-14T18:00:00",
    ],
)
async def test_a_deadline_not_offered_is_refused_and_the_deadline_kept(
    app: App, channel: RecordingChannel, value: str
) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    before = (await current_issue(app)).deadline_at
    await editor.send(messages.LABEL_EXTEND)

    assert texts(await editor.send(choice=value)) == [messages.CHOOSE_NUMBER]
    assert await state_of(app, editor) == "deadline.choose"
    assert (await current_issue(app)).deadline_at == before


async def test_an_offered_deadline_that_has_passed_is_asked_again_with_times_from_now(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.send(messages.LABEL_EXTEND)  # Wednesday 10:00: 12:00 comes first
    clock.set(datetime(2022, 9, 14, 13, tzinfo=SHANGHAI))

    replies = await editor.send("1")

    assert texts(replies) == [messages.DEADLINE_IN_PAST, messages.ask_deadline(messages.NONE)]
    assert replies[-1].choices[0].label == "9月14日（周三）15:00"
    assert (await current_issue(app)).deadline_at is None
    assert await state_of(app, editor) == "deadline.choose"


async def test_a_deadline_in_the_next_year_is_offered_and_confirmed_with_its_year(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    clock.set(datetime(2022, 12, 30, 23, tzinfo=SHANGHAI))  # Friday night before 元旦

    offered = await editor.send(messages.LABEL_EXTEND)
    replies = await editor.send("1")

    first = "2023年1月3日（周二）12:00"  # 1 and 2 January are the New Year holiday
    assert offered[-1].choices[0].label == first
    assert texts(replies)[0] == messages.deadline_moved(first)
    deadline = (await current_issue(app)).deadline_at
    assert deadline == datetime(2023, 1, 3, 12, tzinfo=SHANGHAI)


async def test_an_offered_deadline_this_year_is_confirmed_without_a_year(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.send(messages.LABEL_EXTEND)

    replies = await editor.send(choice="until:2022-09-14T18:00:00+08:00")

    assert texts(replies)[0] == messages.deadline_moved("9月14日（周三）18:00")
    deadline = (await current_issue(app)).deadline_at
    assert deadline == datetime(2022, 9, 14, 18, tzinfo=SHANGHAI)


# --- the order of items ---


async def _editor_at_order_list(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, OTHER_ITEM)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.say_all(messages.LABEL_ORDER, "1")
    assert await state_of(app, editor) == "order.list"
    return editor


@pytest.mark.parametrize("typed", ["1" * 5000, "2 " + "0" * 5000 + "1", "02 1", "2 1 3", "9" * 30])
async def test_an_order_with_a_number_no_position_has_is_refused_not_an_error(
    app: App, channel: RecordingChannel, typed: str
) -> None:
    editor = await _editor_at_order_list(app, channel)

    assert texts(await editor.send(typed)) == [messages.order_bad(2)]
    assert [item.position for item in await all_items(app)] == [None, None]


async def test_a_subsection_without_items_is_not_offered_for_ordering_nor_accepted(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_order_list(app, channel)
    await editor.send("返回")
    assert await state_of(app, editor) == "order.subsection"

    # With no items there is no order to give; an empty answer would have "saved" one.
    assert texts(await editor.send(choice=f"sub:{SERVICE_EFFICIENCY}")) == [messages.CHOOSE_NUMBER]
    assert await state_of(app, editor) == "order.subsection"


async def test_a_figure_of_thousands_of_digits_is_refused_as_not_a_number(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.send(messages.LABEL_STATISTICS)

    assert texts(await editor.send("1" * 5000)) == [messages.NOT_A_NUMBER]
    assert await state_of(app, editor) == "stats.figure"


async def _restore_state(app: App, person: Person, saved: ConversationState) -> None:
    """Put `person` back at a step saved earlier (as if their chat were still there)."""
    key = person.key
    async with app.sessions() as session, session.begin():
        await conversations.save_state(
            session,
            key.channel.value,
            key.chat_id,
            key.user_id,
            conversation=saved.conversation,
            state=saved.state,
            data=saved.data,
            now=app.clock(),
        )


async def test_an_order_from_someone_no_longer_an_editor_is_refused(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_order_list(app, channel)
    saved = await stored_state(app, editor)
    assert saved is not None
    # The same person, bound again as window staff, with the order step still saved.
    await editor.say_all("取消", await invite_code(app, Role.STAFF, COMMERCE))
    member = await member_of(app, editor)
    assert member is not None and member.role == Role.STAFF
    await _restore_state(app, editor, saved)

    assert texts(await editor.send("2 1")) == [messages.EDITOR_ONLY]
    assert [item.position for item in await all_items(app)] == [None, None]


# --- the issue date of 生成草稿 ---


async def _editor_at_compile_date(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await save_reference_figures(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.send(messages.LABEL_COMPILE)
    assert await state_of(app, editor) == "compile.date"
    return editor


@pytest.mark.parametrize("value", ["date:2099-09-14", "date:2022-09-20", "date:", "date:²"])
async def test_an_issue_date_not_offered_is_refused_and_no_draft_made(
    app: App, channel: RecordingChannel, value: str
) -> None:
    editor = await _editor_at_compile_date(app, channel)

    replies = await editor.send(choice=value)

    assert texts(replies) == [messages.COMPILE_BAD_DATE]
    assert all(reply.document is None for reply in replies)
    assert (await current_issue(app)).issue_date is None


@pytest.mark.parametrize("typed", ["9999-12-31", "2023-09-16", "2022-01-04"])
async def test_a_typed_issue_date_far_from_today_is_refused_as_a_slip(
    app: App, channel: RecordingChannel, typed: str
) -> None:
    editor = await _editor_at_compile_date(app, channel)

    assert texts(await editor.send(typed)) == [messages.COMPILE_DATE_FAR]
    assert (await current_issue(app)).issue_date is None


async def test_an_issue_date_from_someone_no_longer_an_editor_is_refused(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_compile_date(app, channel)
    saved = await stored_state(app, editor)
    assert saved is not None
    await editor.say_all("取消", await invite_code(app, Role.STAFF, COMMERCE))
    await _restore_state(app, editor, saved)

    assert texts(await editor.send("2022-09-16")) == [messages.EDITOR_ONLY]
    assert (await current_issue(app)).issue_date is None


# --- unpaired surrogates ---


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


async def test_lone_surrogates_never_reach_a_row_or_a_reply_from_binding_to_saving(
    app: App, channel: RecordingChannel
) -> None:
    """A broken decoder's surrogates in a name, a code, an item, a button and a finding: the
    text gate drops them before a step sees them (PostgreSQL would refuse to store them)."""
    await open_week(app)
    staff = Person(app, "商务厅小王", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)
    bind = staff.incoming(code[:4] + "\ud800" + code[4:])
    await app.engine.handle(replace(bind, display_name="小王\udc00"))
    replies = await staff.say_all(messages.LABEL_SUBMIT, "\udfff1", "本周\ud800办结业务4082件。")
    replies += await staff.send(choice="confirm\udbff")
    inspector = await bound_person(app, channel, "巡查员", Role.INSPECTOR)
    replies += await inspector.send(messages.LABEL_INSPECTION)
    others = ("1",) * (len(app.settings.template.criteria) - 1)  # 总体情况良好 for the rest
    replies += await inspector.say_all("大厅\ud800秩序良好", *others, "1\udc00")  # 确认保存

    assert all(not _has_surrogate(r.text) and r.text != messages.INTERNAL_ERROR for r in replies)
    member = await member_of(app, staff)
    assert member is not None and member.display_name == "小王"
    assert [item.text for item in await window_items(app, COMMERCE)] == ["本周办结业务4082件。"]
    async with app.sessions() as session:
        verdicts = await figures.verdicts(session, (await current_issue(app)).id)
    assert "大厅秩序良好。" in verdicts.values()
    assert not any(_has_surrogate(verdict) for verdict in verdicts.values())


async def test_a_display_name_longer_than_its_column_is_cut_not_an_error(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = Person(app, "商务厅小王", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)

    await app.engine.handle(replace(staff.incoming(code), display_name="名" * 300))

    assert messages.INTERNAL_ERROR not in texts(await staff.inbox())
    member = await member_of(app, staff)
    assert member is not None and member.display_name == "名" * 200
