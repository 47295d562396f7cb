"""返回 goes back one step; 取消 gives up the whole conversation."""

from __future__ import annotations

import pytest

from bot.app import App
from handlers import messages
from handlers.registry import MENUS
from storage.models import Role
from tests.fakes import RecordingChannel, bound_person, texts
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    BUSINESS_ENVIRONMENT_TITLE,
    COMMERCE,
    ITEM,
    add_item,
    all_items,
    open_week,
    state_of,
)

PERMIT = "省本级行政许可事项"


def _ask_permit(kind: str) -> str:
    return messages.ask_figure(PERMIT, kind, "2022年1月1日", "2022年9月16日")


async def test_back_at_the_text_step_asks_for_the_subsection_again(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1")

    replies = await staff.send("返回")

    assert texts(replies) == [messages.ASK_SUBSECTION]
    assert await state_of(app, staff) == "intake.subsection"


async def test_back_at_the_preview_asks_for_the_text_again_and_saves_nothing(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1", ITEM)

    replies = await staff.send("返回")

    assert texts(replies) == [messages.ask_text(BUSINESS_ENVIRONMENT_TITLE)]
    assert await all_items(app) == []


async def test_back_at_the_first_step_shows_the_menu_not_cancelled(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.send("1")

    replies = await staff.send("返回")

    assert replies[-1].text == messages.MENU_PROMPT
    assert replies[-1].choices == MENUS[Role.STAFF]
    assert messages.CANCELLED not in texts(replies)
    assert await state_of(app, staff) == "menu.main"


async def test_cancel_still_gives_up_the_conversation(app: App, channel: RecordingChannel) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1", ITEM)

    assert texts(await staff.send("取消")) == [messages.CANCELLED, messages.MENU_PROMPT]
    assert await state_of(app, staff) == "menu.main"
    assert await all_items(app) == []


@pytest.mark.parametrize("word", ["返回", "上一步"])
async def test_back_at_an_items_actions_returns_to_the_list(
    app: App, channel: RecordingChannel, word: str
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await staff.say_all(messages.LABEL_MY_ITEMS, "1")
    assert await state_of(app, staff) == "items.action"

    await staff.send(word)

    assert await state_of(app, staff) == "items.list"


async def test_back_while_editing_an_item_returns_to_its_actions(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await staff.say_all(messages.LABEL_MY_ITEMS, "1", messages.LABEL_EDIT)

    await staff.send("返回")

    assert await state_of(app, staff) == "items.action"
    # Then 修改 starts the edit afresh: the edit was not left half-done.
    await staff.send(messages.LABEL_EDIT)
    assert await state_of(app, staff) == "intake.text"


async def test_back_at_a_figure_asks_the_figure_before(app: App, channel: RecordingChannel) -> None:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.say_all(messages.LABEL_STATISTICS, "617058")

    assert texts(await editor.send("返回")) == [_ask_permit(messages.KIND_ACCEPTED)]
    assert texts(await editor.send("617059")) == [_ask_permit(messages.KIND_COMPLETED)]


async def test_back_at_the_first_criterion_shows_the_menu(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    inspector = await bound_person(app, channel, "巡查员小张", Role.INSPECTOR)
    await inspector.send(messages.LABEL_INSPECTION)

    replies = await inspector.send("返回")

    assert replies[-1].text == messages.MENU_PROMPT
    assert await state_of(app, inspector) == "menu.main"
