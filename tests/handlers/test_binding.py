"""Binding a chat identity to a window and role with a one-time invite code."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from handlers import messages
from scheduler.clock import FrozenClock
from storage.models import Role
from tests.fakes import Person, RecordingChannel, invite_code, texts
from tests.handlers.support import COMMERCE, COMMERCE_WINDOW, all_members, member_of, window_id


async def test_stranger_gets_welcome_when_not_bound(app: App, channel: RecordingChannel) -> None:
    stranger = Person(app, "路人甲", channel)

    assert texts(await stranger.send("你好")) == [messages.WELCOME_UNBOUND]
    assert await all_members(app) == []


async def test_staff_bound_to_window_when_invite_code_valid(
    app: App, channel: RecordingChannel
) -> None:
    person = Person(app, "商务厅小王", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)

    replies = await person.send(code)

    assert texts(replies) == [messages.bound(COMMERCE_WINDOW, Role.STAFF), messages.MENU_PROMPT]
    member = await member_of(app, person)
    assert member is not None
    assert (member.window_id, member.role) == (await window_id(app, COMMERCE), Role.STAFF)


async def test_editor_bound_to_hall_when_invite_code_has_no_window(
    app: App, channel: RecordingChannel
) -> None:
    person = Person(app, "编辑老陈", channel)

    replies = await person.send(await invite_code(app, Role.EDITOR))

    assert texts(replies) == [messages.bound(messages.HALL, Role.EDITOR), messages.MENU_PROMPT]
    member = await member_of(app, person)
    assert member is not None
    assert (member.window_id, member.role) == (None, Role.EDITOR)


async def test_code_accepted_when_typed_lowercase_with_spaces(
    app: App, channel: RecordingChannel
) -> None:
    person = Person(app, "商务厅小王", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)
    typed = f"  {code[:4].lower()} {code[4:].lower()} "

    replies = await person.send(typed)

    assert texts(replies)[0] == messages.bound(COMMERCE_WINDOW, Role.STAFF)
    member = await member_of(app, person)
    assert member is not None
    assert (member.window_id, member.role) == (await window_id(app, COMMERCE), Role.STAFF)


async def test_code_refused_when_unknown(app: App, channel: RecordingChannel) -> None:
    person = Person(app, "路人甲", channel)

    assert texts(await person.send("ABCD-EFGH-JKMN")) == [messages.INVITE_INVALID]
    assert await all_members(app) == []


async def test_code_refused_when_expired(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    person = Person(app, "商务厅小王", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)
    clock.advance(timedelta(days=15))  # invites live 14 days

    assert texts(await person.send(code)) == [messages.INVITE_INVALID]
    assert await all_members(app) == []


async def test_code_refused_when_already_used(app: App, channel: RecordingChannel) -> None:
    first = Person(app, "商务厅小王", channel)
    second = Person(app, "商务厅小李", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)
    await first.send(code)

    assert texts(await second.send(code)) == [messages.INVITE_INVALID]
    assert await member_of(app, second) is None
    assert [m.user_id for m in await all_members(app)] == [first.key.user_id]
