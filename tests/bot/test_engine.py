"""The conversation engine: redeliveries, timeouts, stored state it no longer knows, help."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from handlers import messages
from scheduler.clock import FrozenClock
from storage.models import Role
from storage.repositories import conversations
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT_TITLE,
    COMMERCE,
    ITEM,
    all_items,
    open_week,
    row_counts,
    state_of,
    stored_state,
)


async def _at_text_step(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1")  # 提交动态, （一）优化营商环境工作开展情况
    return staff


async def test_update_handled_once_when_delivered_twice(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)
    await staff.send(ITEM)
    confirm = staff.incoming("1", update_id="telegram-4711")

    first = await app.engine.handle(confirm)
    counts = await row_counts(app)
    second = await app.engine.handle(confirm)

    assert [envelope.message.text for envelope in first] == [messages.submitted(1)]
    assert second == []
    assert await row_counts(app) == counts
    assert [item.text for item in await all_items(app)] == [ITEM]
    assert texts(await staff.inbox()) == [messages.submitted(1)]


async def test_rejected_update_answered_once_when_delivered_twice(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)
    empty = staff.incoming(None, update_id="wecom-42")

    await app.engine.handle(empty)
    counts = await row_counts(app)

    assert await app.engine.handle(empty) == []
    assert await row_counts(app) == counts
    assert texts(await staff.inbox()) == [messages.EMPTY_MESSAGE]


async def test_conversation_dropped_with_notice_when_older_than_timeout(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    staff = await _at_text_step(app, channel)
    clock.advance(timedelta(hours=12, minutes=1))

    replies = await staff.send(ITEM)

    assert texts(replies) == [messages.TIMED_OUT, messages.MENU_PROMPT]
    assert await all_items(app) == []
    assert await state_of(app, staff) == "menu.main"


async def test_conversation_kept_when_younger_than_timeout(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    staff = await _at_text_step(app, channel)
    clock.advance(timedelta(hours=11, minutes=59))

    assert texts(await staff.send(ITEM)) == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, ITEM)]


async def test_menu_never_times_out_when_idle_for_days(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    clock.advance(timedelta(days=2))

    assert texts(await staff.send("1")) == [messages.ASK_SUBSECTION]


async def test_unknown_stored_state_dropped_when_next_message_arrives(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    key = staff.key
    async with app.sessions() as session, session.begin():
        await conversations.save_state(
            session,
            key.channel.value,
            key.chat_id,
            key.user_id,
            conversation="intake",
            state="intake.renamed_long_ago",
            data={"subsection": "gone", "text": 42},
            now=app.clock(),
        )

    replies = await staff.send("你好")

    assert texts(replies) == [messages.MENU_PROMPT]
    row = await stored_state(app, staff)
    assert row is not None
    assert (row.state, row.conversation) == ("menu.main", "menu")
    assert "subsection" not in row.data
    assert texts(await staff.send("1")) == [messages.ASK_SUBSECTION]


async def test_internal_error_answered_and_state_kept_when_step_fails(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)
    key = staff.key
    async with app.sessions() as session, session.begin():
        await conversations.save_state(
            session,
            key.channel.value,
            key.chat_id,
            key.user_id,
            conversation="intake",
            state="intake.preview",
            data={},  # no subsection or text: the preview's step cannot run
            now=app.clock(),
        )

    assert texts(await staff.send(choice="confirm")) == [messages.INTERNAL_ERROR]
    assert await state_of(app, staff) == "intake.preview"
    assert await all_items(app) == []


@pytest.mark.parametrize(
    ("role", "help_text"),
    [
        pytest.param(Role.STAFF, messages.STAFF_HELP, id="staff"),
        pytest.param(
            Role.EDITOR,
            messages.EDITOR_HELP,
            id="editor",
        ),
        pytest.param(
            Role.INSPECTOR,
            messages.INSPECTOR_HELP,
            id="inspector",
        ),
    ],
)
async def test_role_help_answered_when_help_typed_at_menu(
    app: App, channel: RecordingChannel, role: Role, help_text: str
) -> None:
    window = COMMERCE if role == Role.STAFF else None
    person = await bound_person(app, channel, "某人", role, window)

    assert texts(await person.send("帮助")) == [help_text, messages.MENU_PROMPT]


@pytest.mark.parametrize(
    ("role", "help_text"),
    [(Role.EDITOR, messages.EDITOR_HELP), (Role.INSPECTOR, messages.INSPECTOR_HELP)],
    ids=["editor", "inspector"],
)
async def test_role_help_answered_when_help_button_tapped_at_menu(
    app: App, channel: RecordingChannel, role: Role, help_text: str
) -> None:
    person = await bound_person(app, channel, "某人", role)

    assert texts(await person.send(choice="help")) == [help_text, messages.MENU_PROMPT]


# --- coming back to a conversation ---


async def test_resuming_mid_conversation_repeats_the_prompt_of_the_step(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    await app.engine.resume(staff.key)

    assert texts(await staff.inbox()) == [
        messages.RESUMING,
        messages.ask_text(BUSINESS_ENVIRONMENT_TITLE),
    ]
    assert await state_of(app, staff) == "intake.text"


async def test_resuming_offers_the_choices_again_so_a_number_answers_them(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)
    await staff.send(ITEM)

    await app.engine.resume(staff.key)
    resumed = await staff.inbox()
    await staff.send("1")  # 确认提交

    assert resumed[-1].text == messages.preview(BUSINESS_ENVIRONMENT_TITLE, ITEM)
    assert resumed[-1].choices[0].label == messages.LABEL_CONFIRM
    assert [item.text for item in await all_items(app)] == [ITEM]


async def test_resuming_at_the_menu_says_nothing(app: App, channel: RecordingChannel) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.inbox()

    assert await app.engine.resume(staff.key) == []
    assert await staff.inbox() == []


async def test_resuming_a_timed_out_conversation_says_nothing_until_the_next_message(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    staff = await _at_text_step(app, channel)
    clock.advance(timedelta(days=2))

    assert await app.engine.resume(staff.key) == []
    assert await state_of(app, staff) == "intake.text"
