"""Input the conversations must survive: empty, huge, odd characters, markup, crafted choices."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import docx
import pytest

from bot.app import App, open_app
from bot.config import IntakeConfig
from bot.drafts import write_draft
from handlers import messages
from scheduler.clock import FrozenClock
from storage.models import ItemStatus, Role
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.fakes import test_config as configured
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    BUSINESS_ENVIRONMENT_TITLE,
    COMMERCE,
    HEALTH,
    ITEM,
    OTHER_ITEM,
    add_item,
    all_items,
    all_members,
    get_item,
    open_week,
    save_reference_figures,
    state_of,
    window_items,
)

LIMIT = 8000  # HandlerSettings.max_item_chars


async def _at_text_step(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await staff.say_all("1", "1")  # 提交动态, （一）优化营商环境工作开展情况
    return staff


async def _confirmed(staff: Person, text: str) -> list[str]:
    """Send `text` at the text step, confirm and finish; return the preview's text."""
    preview = texts(await staff.send(text))
    await staff.say_all("1", "2")
    return preview


# --- empty messages ---


async def test_empty_message_rejected_when_text_is_blank(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send("")) == [messages.EMPTY_MESSAGE]
    assert await state_of(app, staff) == "intake.text"
    assert await all_items(app) == []


async def test_empty_message_rejected_when_message_has_no_text(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send(None)) == [messages.EMPTY_MESSAGE]  # e.g. a sticker
    assert await state_of(app, staff) == "intake.text"
    assert await all_items(app) == []


async def test_empty_message_rejected_when_text_is_only_invisible_characters(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send(" \u200b\u3000\x00 ")) == [messages.EMPTY_MESSAGE]
    assert await all_items(app) == []


async def test_text_step_kept_when_empty_message_rejected(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)
    await staff.send(None)

    assert texts(await staff.send(ITEM)) == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, ITEM)]


# --- length ---


async def test_long_message_rejected_when_over_limit(app: App, channel: RecordingChannel) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send("办" * 20_000)) == [messages.text_too_long(LIMIT, 20_000)]
    assert await state_of(app, staff) == "intake.text"
    assert await all_items(app) == []


async def test_valid_text_accepted_when_sent_after_long_message(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)
    await staff.send("办" * 20_000)

    assert await _confirmed(staff, ITEM) == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, ITEM)]
    assert [i.text for i in await all_items(app)] == [ITEM]


async def test_message_accepted_when_exactly_at_limit(app: App, channel: RecordingChannel) -> None:
    staff = await _at_text_step(app, channel)
    text = "办" * LIMIT

    await _confirmed(staff, text)

    assert [i.text for i in await all_items(app)] == [text]


# --- characters ---

EMOJI_ITEM = (
    "窗口办结率100%🎉👍，群众点赞👨\u200d👩\u200d👧"  # a family: three people joined by ZWJ
)


async def test_emoji_stored_exactly_when_item_has_emoji(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    await _confirmed(staff, EMOJI_ITEM)

    assert [i.text for i in await all_items(app)] == [EMOJI_ITEM]


async def test_emoji_kept_in_preview_when_item_has_emoji(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    preview = texts(await staff.send("窗口办结率100%🎉👍，群众点赞"))

    assert preview == [
        messages.preview(BUSINESS_ENVIRONMENT_TITLE, "窗口办结率100%🎉👍，群众点赞。")
    ]


async def test_joined_emoji_kept_whole_in_preview_when_item_has_family_emoji(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    preview = texts(await staff.send(EMOJI_ITEM))

    assert preview == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, EMOJI_ITEM + "。")]


async def test_control_characters_removed_when_item_stored(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    await _confirmed(staff, "本周\x00办结\x07业务4082件\x1b。\r\n")

    assert [i.text for i in await all_items(app)] == ["本周办结业务4082件。"]


async def test_terminal_colour_codes_removed_whole_when_item_stored(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    await _confirmed(staff, "本周\x00办结\x07业务\x1b[31m4082件\x1b[0m。")

    assert [i.text for i in await all_items(app)] == ["本周办结业务4082件。"]


async def test_noncharacters_and_zero_width_never_reach_preview_store_or_draft(
    app: App, channel: RecordingChannel, tmp_path: Path
) -> None:
    staff = await _at_text_step(app, channel)

    preview = await _confirmed(staff, "本周办\u200d结\uffff业务\ufffe4082件\ud800。")

    assert preview == [messages.preview(BUSINESS_ENVIRONMENT_TITLE, "本周办结业务4082件。")]
    assert [i.text for i in await all_items(app)] == ["本周办结业务4082件。"]
    await save_reference_figures(app)
    written = await write_draft(app, tmp_path, date(2022, 9, 16))
    assert "本周办结业务4082件。" in written.markdown_path.read_text("utf-8")


MARKUP_ITEM = "<b>加粗</b> *星号* _下划线_ [链接](http://x)"


async def test_markup_stored_as_typed_when_item_has_html_and_markdown(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    await _confirmed(staff, MARKUP_ITEM)

    assert [i.text for i in await all_items(app)] == [MARKUP_ITEM]


async def test_markup_escaped_in_markdown_draft_when_item_has_html_and_markdown(
    app: App, channel: RecordingChannel, tmp_path: Path
) -> None:
    staff = await _at_text_step(app, channel)
    await _confirmed(staff, MARKUP_ITEM)
    await save_reference_figures(app)

    written = await write_draft(app, tmp_path / "drafts", date(2022, 10, 21))

    paragraphs = written.markdown_path.read_text("utf-8").split("\n\n")
    escaped = r"（1）\<b\>加粗\</b\> \*星号\* \_下划线\_ \[链接\](http://x)。"
    assert escaped in paragraphs


async def test_markup_printed_literally_in_docx_when_item_has_html_and_markdown(
    app: App, channel: RecordingChannel, tmp_path: Path
) -> None:
    staff = await _at_text_step(app, channel)
    await _confirmed(staff, MARKUP_ITEM)
    await save_reference_figures(app)

    written = await write_draft(app, tmp_path / "drafts", date(2022, 10, 21))

    document = docx.Document(str(written.docx_path))
    assert f"（1）{MARKUP_ITEM}。" in [p.text for p in document.paragraphs]


# --- numbers ---


PERMIT = "省本级行政许可事项"  # the first statistics category of the default template


def _ask_permit(kind: str) -> str:
    return messages.ask_figure(PERMIT, kind, "2022年1月1日", "2022年9月16日")


async def _editor_at_first_figure(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    assert texts(await editor.send(messages.LABEL_STATISTICS)) == [
        _ask_permit(messages.KIND_ACCEPTED)
    ]
    return editor


async def test_figure_rejected_when_not_a_whole_number(app: App, channel: RecordingChannel) -> None:
    editor = await _editor_at_first_figure(app, channel)

    for words in ("六十万", "abc", "-5", "1.5", "12万", "6 17058"):
        assert texts(await editor.send(words)) == [messages.NOT_A_NUMBER], words
    assert await state_of(app, editor) == "stats.figure"


async def test_same_figure_asked_when_valid_number_follows_rejected_one(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor_at_first_figure(app, channel)
    await editor.send("六十万")

    # The number answers the question that was refused, so the second one comes next.
    assert texts(await editor.send("617058")) == [_ask_permit(messages.KIND_COMPLETED)]


async def test_figure_rejected_when_too_large_to_store(app: App, channel: RecordingChannel) -> None:
    editor = await _editor_at_first_figure(app, channel)

    replies = texts(await editor.send("99999999999999999999"))
    replies += texts(await editor.say_all("1", "1", "1", "1", "1", "1", "1"))

    assert messages.INTERNAL_ERROR not in replies
    assert replies[0] == messages.NOT_A_NUMBER
    assert messages.STATISTICS_SAVED in replies


# --- people and items that are not theirs ---


async def test_only_welcome_sent_when_stranger_uses_menu_words(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    await open_week(app)
    stranger = Person(app, "路人甲", channel)
    words = ["1", "提交动态", "本周无动态", "帮助", "取消", "状态", "统计", "617058"]

    for word in words:
        # Each time after the reply interval: a stranger is answered at most once per interval.
        clock.advance(app.settings.stranger_reply_interval)
        assert texts(await stranger.send(word)) == [messages.WELCOME_UNBOUND], word
    clock.advance(app.settings.stranger_reply_interval)
    assert texts(await stranger.send(choice="submit")) == [messages.WELCOME_UNBOUND]
    assert await all_members(app) == []
    assert await all_items(app) == []
    assert await state_of(app, stranger) is None


async def _other_windows_item(app: App, channel: RecordingChannel) -> tuple[Person, int]:
    """A commerce staff member at the item list, and the id of a health window's item."""
    await open_week(app)
    health = await bound_person(app, channel, "卫健委小李", Role.STAFF, HEALTH)
    await add_item(app, health, BUSINESS_ENVIRONMENT, OTHER_ITEM)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await staff.send(messages.LABEL_MY_ITEMS)
    assert await state_of(app, staff) == "items.list"
    (other,) = await window_items(app, HEALTH)
    return staff, other.id


async def test_refused_when_staff_picks_other_windows_item(
    app: App, channel: RecordingChannel
) -> None:
    staff, other_id = await _other_windows_item(app, channel)

    assert texts(await staff.send(choice=f"item:{other_id}")) == [messages.NOT_YOUR_ITEM]
    assert await state_of(app, staff) == "items.list"
    other = await get_item(app, other_id)
    assert (other.text, other.status) == (OTHER_ITEM, ItemStatus.CONFIRMED)


async def test_refused_when_staff_picks_withdrawn_item(app: App, channel: RecordingChannel) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, OTHER_ITEM)
    await staff.say_all(messages.LABEL_MY_ITEMS, "1", messages.LABEL_WITHDRAW)
    withdrawn = (await all_items(app))[0]
    assert withdrawn.status == ItemStatus.WITHDRAWN

    assert texts(await staff.send(choice=f"item:{withdrawn.id}")) == [messages.ITEM_GONE]
    assert (await get_item(app, withdrawn.id)).status == ItemStatus.WITHDRAWN


async def test_refused_when_staff_picks_item_that_does_not_exist(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await staff.send(messages.LABEL_MY_ITEMS)

    assert texts(await staff.send(choice="item:999999")) == [messages.ITEM_GONE]
    assert texts(await staff.send(choice="item:abc")) == [messages.CHOOSE_NUMBER]


# --- texts that are not items ---


@pytest.mark.parametrize("text", ["。。", "……", "？！", "、，。", "😀👍", "---"])
async def test_a_text_of_only_punctuation_is_refused_as_an_item(
    app: App, channel: RecordingChannel, text: str
) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send(text)) == [messages.ITEM_HAS_NO_WORDS]
    assert await state_of(app, staff) == "intake.text"
    assert await all_items(app) == []


@pytest.mark.parametrize("text", ["1", "１", "2.", "①", "2022", "3.5%"])
async def test_a_bare_number_at_the_text_step_is_refused_and_says_where_the_person_is(
    app: App, channel: RecordingChannel, text: str
) -> None:
    staff = await _at_text_step(app, channel)

    replies = texts(await staff.send(text))

    assert replies == [messages.item_is_a_number(BUSINESS_ENVIRONMENT_TITLE)]
    assert await state_of(app, staff) == "intake.text"
    assert await all_items(app) == []


async def test_a_text_shorter_than_the_minimum_is_refused_as_an_item(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send("已办理。")) == [messages.item_too_short(6, 3)]
    assert await all_items(app) == []


async def test_a_text_at_the_minimum_is_accepted_as_an_item(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    await _confirmed(staff, "开展培训1次")

    assert [i.text for i in await all_items(app)] == ["开展培训1次"]


async def test_the_minimum_length_of_an_item_comes_from_the_intake_setting(
    tmp_path: Path, db_url: str, clock: FrozenClock, channel: RecordingChannel
) -> None:
    config = configured(tmp_path, db_url)
    config = config.model_copy(update={"intake": IntakeConfig(min_item_chars=2)})
    app = await open_app(config, clock.now)
    try:
        staff = await _at_text_step(app, channel)
        await _confirmed(staff, "已办。")
        assert [i.text for i in await all_items(app)] == ["已办。"]
    finally:
        await app.close()


async def test_no_news_sent_at_the_text_step_is_refused_with_the_way_to_say_it(
    app: App, channel: RecordingChannel
) -> None:
    staff = await _at_text_step(app, channel)

    assert texts(await staff.send("本周无动态")) == [messages.NO_NEWS_AT_TEXT_STEP]
    assert await all_items(app) == []
