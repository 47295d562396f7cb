"""Window staff list their own window's items and edit or withdraw them."""

from __future__ import annotations

from bot.app import App
from handlers import messages
from storage.models import ItemStatus, Role
from storage.repositories import submissions
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    BUSINESS_ENVIRONMENT_TITLE,
    COMMERCE,
    HEALTH,
    ITEM,
    OTHER_ITEM,
    SERVICE_EFFICIENCY,
    SERVICE_EFFICIENCY_TITLE,
    add_item,
    all_items,
    get_item,
    member_of,
    open_week,
    state_of,
)

NEW_TEXT = "本周窗口办结业务4100件，群众满意率100%。"


def _list(*lines: tuple[str, str]) -> str:
    return messages.item_list(
        [messages.item_line(i, title, text) for i, (title, text) in enumerate(lines, start=1)]
    )


async def _commerce_with_two_items(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await add_item(app, staff, SERVICE_EFFICIENCY, OTHER_ITEM)
    return staff


async def _revisions(app: App, item_id: int) -> list[tuple[str, str, int]]:
    async with app.sessions() as session:
        rows = await submissions.item_revisions(session, item_id)
    return [(r.text, r.subsection, r.edited_by) for r in rows]


async def test_list_shows_own_windows_items_when_my_items_chosen(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _commerce_with_two_items(app, channel)
    health = await bound_person(app, channel, "卫健委小李", Role.STAFF, HEALTH)
    await add_item(app, health, BUSINESS_ENVIRONMENT, "卫健委窗口办结业务300件。")

    listing = await staff.send(messages.LABEL_MY_ITEMS)

    assert texts(listing) == [
        _list((BUSINESS_ENVIRONMENT_TITLE, ITEM), (SERVICE_EFFICIENCY_TITLE, OTHER_ITEM))
    ]
    ids = [item.id for item in await all_items(app)][:2]
    assert [c.value for c in listing[0].choices] == [f"item:{i}" for i in ids] + ["back"]


async def test_no_items_answered_when_window_has_none(app: App, channel: RecordingChannel) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)

    assert texts(await staff.send(messages.LABEL_MY_ITEMS)) == [messages.NO_ITEMS_YET]
    assert await state_of(app, staff) == "menu.main"


async def test_text_changed_and_revision_kept_when_item_edited(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _commerce_with_two_items(app, channel)
    first = (await all_items(app))[0]

    await staff.say_all(messages.LABEL_MY_ITEMS, "1")
    assert texts(await staff.send(messages.LABEL_EDIT)) == [messages.ASK_NEW_TEXT]
    preview = await staff.send(NEW_TEXT)
    assert texts(preview) == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, NEW_TEXT)]
    assert preview[0].choices[0].label == messages.LABEL_SAVE_EDIT
    assert texts(await staff.send("1")) == [
        messages.EDITED,
        _list((BUSINESS_ENVIRONMENT_TITLE, NEW_TEXT), (SERVICE_EFFICIENCY_TITLE, OTHER_ITEM)),
    ]

    edited = await get_item(app, first.id)
    assert (edited.text, edited.subsection, edited.status) == (
        NEW_TEXT,
        BUSINESS_ENVIRONMENT,
        ItemStatus.CONFIRMED,
    )
    member = await member_of(app, staff)
    assert member is not None
    assert await _revisions(app, first.id) == [(ITEM, BUSINESS_ENVIRONMENT, member.id)]
    assert len(await all_items(app)) == 2  # edited in place, not added


async def test_item_withdrawn_and_gone_from_list_when_withdraw_chosen(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _commerce_with_two_items(app, channel)
    first, second = await all_items(app)

    await staff.say_all(messages.LABEL_MY_ITEMS, "1")
    replies = await staff.send(messages.LABEL_WITHDRAW)

    assert texts(replies) == [messages.WITHDRAWN, _list((SERVICE_EFFICIENCY_TITLE, OTHER_ITEM))]
    assert [c.value for c in replies[-1].choices] == [f"item:{second.id}", "back"]
    assert (await get_item(app, first.id)).status == ItemStatus.WITHDRAWN
    assert (await get_item(app, second.id)).status == ItemStatus.CONFIRMED


async def test_conversation_ends_when_last_item_withdrawn(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)

    await staff.say_all(messages.LABEL_MY_ITEMS, "1")

    assert texts(await staff.send(messages.LABEL_WITHDRAW)) == [messages.WITHDRAWN]
    assert await state_of(app, staff) == "menu.main"
    assert texts(await staff.send(messages.LABEL_MY_ITEMS)) == [messages.NO_ITEMS_YET]


async def test_colleague_can_edit_when_item_from_same_window(
    app: App, channel: RecordingChannel
) -> None:
    await _commerce_with_two_items(app, channel)
    colleague = await bound_person(app, channel, "商务厅小李", Role.STAFF, COMMERCE)
    first = (await all_items(app))[0]

    await colleague.say_all(messages.LABEL_MY_ITEMS, "1", messages.LABEL_EDIT, NEW_TEXT)
    assert texts(await colleague.send(messages.LABEL_SAVE_EDIT))[0] == messages.EDITED

    assert (await get_item(app, first.id)).text == NEW_TEXT
    member = await member_of(app, colleague)
    assert member is not None
    assert await _revisions(app, first.id) == [(ITEM, BUSINESS_ENVIRONMENT, member.id)]


async def test_edit_refused_when_colleague_withdrew_item_meanwhile(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _commerce_with_two_items(app, channel)
    colleague = await bound_person(app, channel, "商务厅小李", Role.STAFF, COMMERCE)
    first = (await all_items(app))[0]
    await staff.say_all(messages.LABEL_MY_ITEMS, "1", messages.LABEL_EDIT, NEW_TEXT)

    await colleague.say_all(messages.LABEL_MY_ITEMS, "1", messages.LABEL_WITHDRAW)

    assert texts(await staff.send("1")) == [messages.ITEM_GONE]
    withdrawn = await get_item(app, first.id)
    assert (withdrawn.text, withdrawn.status) == (ITEM, ItemStatus.WITHDRAWN)
    assert await _revisions(app, first.id) == []


async def test_nothing_changed_when_back_chosen_from_list(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _commerce_with_two_items(app, channel)
    await staff.send(messages.LABEL_MY_ITEMS)

    assert texts(await staff.send(messages.LABEL_BACK)) == [messages.MENU_PROMPT]
    assert [(i.text, i.status) for i in await all_items(app)] == [
        (ITEM, ItemStatus.CONFIRMED),
        (OTHER_ITEM, ItemStatus.CONFIRMED),
    ]
