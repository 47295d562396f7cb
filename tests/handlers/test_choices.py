"""Choosing by typing: the number shown before a choice, in whatever form people type it."""

from __future__ import annotations

import pytest

from bot.app import App
from handlers import messages
from handlers.framework.choices import resolve_choice, typed_number
from handlers.types import Choice
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

OFFERED = [Choice("confirm", "确认提交"), Choice("change", "修改内容"), Choice("cancel", "取消")]


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("2", 2),
        ("２", 2),
        (" 2. ", 2),
        ("2、", 2),
        ("（2）", 2),
        ("②", 2),
        ("⑵", 2),
        ("⒉", 2),
        ("❷", 2),
        ("➋", 2),
        ("²", 2),
        ("₂", 2),
        ("二", 2),
        ("⑩", 10),
    ],
)
def test_numeric_forms_people_type_read_as_the_number_they_show(typed: str, number: int) -> None:
    assert typed_number(typed) == number


@pytest.mark.parametrize(
    "typed", ["", "0", "〇", "½", "1 2", "2a", "abc", "确认", "1" * 5000, "-1", "+1", "2.5"]
)
def test_text_that_is_not_a_whole_positive_number_reads_as_no_number(typed: str) -> None:
    assert typed_number(typed) is None


@pytest.mark.parametrize(("typed", "value"), [("①", "confirm"), ("⑵", "change"), ("❸", "cancel")])
def test_circled_numbers_pick_the_choice_they_number(typed: str, value: str) -> None:
    assert resolve_choice(typed, OFFERED) == value


@pytest.mark.parametrize("typed", ["④", "⑽", "0", "²²", "⁴"])
def test_numbers_outside_the_choices_pick_nothing(typed: str) -> None:
    assert resolve_choice(typed, OFFERED) is None


async def test_a_circled_number_picks_the_menu_choice_it_numbers(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)

    await staff.send("①")  # 提交动态

    assert await state_of(app, staff) == "intake.subsection"


@pytest.mark.parametrize("typed", ["⑽", "④", "⁹", "₀"])
async def test_a_numeric_form_outside_the_choices_is_refused_in_chinese_when_previewing(
    app: App, channel: RecordingChannel, typed: str
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1", ITEM)

    assert texts(await staff.send(typed)) == [messages.CHOOSE_NUMBER]
    assert await state_of(app, staff) == "intake.preview"
    assert await all_items(app) == []


async def test_a_superscript_number_picks_the_choice_when_previewing(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1", ITEM)

    await staff.send("²")  # 修改内容

    assert await state_of(app, staff) == "intake.text"


async def test_a_crafted_item_choice_with_a_superscript_digit_is_refused_not_an_error(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await staff.send(messages.LABEL_MY_ITEMS)

    assert texts(await staff.send(choice="item:²")) == [messages.CHOOSE_NUMBER]
    assert await state_of(app, staff) == "items.list"


async def test_the_subsection_can_be_picked_by_its_title(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.send("1")

    await staff.send(BUSINESS_ENVIRONMENT_TITLE)

    assert await state_of(app, staff) == "intake.text"
