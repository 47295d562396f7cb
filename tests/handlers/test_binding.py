"""Binding a chat identity to a window and role with a one-time invite code."""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import App
from handlers import messages
from handlers.framework.binding import (
    ALPHABET,
    CODE_LENGTH,
    LOCKOUT,
    MAX_WRONG_CODES,
    create_invite,
    format_code,
    hash_code,
)
from scheduler.clock import FrozenClock
from storage.models import Invite, Role
from storage.repositories import guards
from storage.repositories.guards import GuardRecord
from tests.fakes import Person, RecordingChannel, bound_person, invite_code, texts
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


# --- invite codes a stranger cannot guess ---------------------------------------------------


async def test_invite_code_has_12_symbols_of_an_alphabet_without_look_alikes(app: App) -> None:
    codes = [await invite_code(app, Role.EDITOR) for _ in range(50)]

    assert all(len(code) == CODE_LENGTH == 12 for code in codes)
    assert set("".join(codes)) <= set(ALPHABET)
    assert not set(ALPHABET) & set("0O1IL")
    assert CODE_LENGTH * math.log2(len(ALPHABET)) >= 59
    assert len(set(codes)) == len(codes)


async def test_invite_stored_only_as_keyed_hash_of_its_code(app: App) -> None:
    code = await invite_code(app, Role.STAFF, COMMERCE)

    async with app.sessions() as session:
        (stored,) = (await session.scalars(select(Invite))).all()
    assert stored.code_hash == hash_code(app.settings.invite_key, code)
    assert code not in stored.code_hash
    assert stored.code_hash != hashlib.sha256(code.encode()).hexdigest()  # keyed, not plain


async def test_code_refused_and_key_mismatch_logged_when_made_with_another_key(
    app: App, channel: RecordingChannel, caplog: pytest.LogCaptureFixture
) -> None:
    async with app.sessions() as session, session.begin():
        other = replace(app.settings, invite_key=b"another server's key, not copied")
        code = await create_invite(session, other, None, Role.EDITOR, app.clock())

    assert texts(await Person(app, "编辑老陈", channel).send(code)) == [messages.INVITE_INVALID]
    assert "every server needs the same invite.key" in caplog.text


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("{grouped}", id="grouped"),
        pytest.param("{lower_grouped}", id="lower-case-grouped"),
        pytest.param("{spaced}", id="groups-with-spaces"),
        pytest.param("{full_width}", id="full-width"),
        pytest.param("/start {plain}", id="telegram-deep-link"),
    ],
)
async def test_code_accepted_when_typed_grouped_spaced_lower_case_or_full_width(
    app: App, channel: RecordingChannel, typed: str
) -> None:
    code = await invite_code(app, Role.STAFF, COMMERCE)
    grouped = format_code(code)
    variants = {
        "grouped": grouped,
        "lower_grouped": grouped.lower(),
        "spaced": " ".join(code[i : i + 4] for i in (0, 4, 8)),
        "full_width": "".join("－" if c == "-" else chr(ord(c) + 0xFEE0) for c in grouped),
        "plain": code,
    }

    replies = await Person(app, "商务厅小王", channel).send(typed.format(**variants))

    assert texts(replies)[0] == messages.bound(COMMERCE_WINDOW, Role.STAFF)


def test_code_shown_in_groups_of_four_for_reading() -> None:
    assert format_code("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"


@pytest.mark.parametrize(
    "attempt",
    [
        "ABCD1234",
        "abcd-1234",
        "ABCD-EFGH-JKMN",
        "ABCD-EFGH-JKM",
        "ABCD-EFGH-JKMNP",
        "AB0O-1IL2-3456",
    ],
)
async def test_code_like_attempt_answered_as_wrong_code_when_no_invite_matches(
    app: App, channel: RecordingChannel, attempt: str
) -> None:
    stranger = Person(app, "路人甲", channel)

    assert texts(await stranger.send(attempt)) == [messages.INVITE_INVALID]
    assert await all_members(app) == []


@pytest.mark.parametrize(
    "text", ["你好", "hello", "hello world", "/start", "2022", "13800138000", "请问怎么绑定"]
)
async def test_greeting_answered_with_welcome_when_it_is_not_code_like(
    app: App, channel: RecordingChannel, text: str
) -> None:
    assert texts(await Person(app, "路人甲", channel).send(text)) == [messages.WELCOME_UNBOUND]


async def _wrong_codes(person: Person, count: int) -> list[str]:
    replies: list[str] = []
    for n in range(count):
        replies += texts(await person.send(f"WRNG-CODE-{n:04d}"))
    return replies


async def test_chat_refused_codes_for_an_hour_after_5_wrong_codes(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    guesser = Person(app, "路人甲", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)

    replies = await _wrong_codes(guesser, MAX_WRONG_CODES)
    clock.advance(app.settings.stranger_reply_interval)
    refused = texts(await guesser.send(code))  # even the right code, while locked out
    clock.advance(LOCKOUT - app.settings.stranger_reply_interval)
    bound = texts(await guesser.send(code))

    assert replies == [messages.INVITE_INVALID] * 5 + [messages.INVITE_LOCKED]
    assert refused == [messages.INVITE_LOCKED]
    assert bound[0] == messages.bound(COMMERCE_WINDOW, Role.STAFF)


async def test_wrong_codes_counted_within_an_hour_when_spread_out(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    guesser = Person(app, "路人甲", channel)
    code = await invite_code(app, Role.STAFF, COMMERCE)

    await _wrong_codes(guesser, MAX_WRONG_CODES - 1)
    clock.advance(LOCKOUT)  # a new hour: the count starts again
    await _wrong_codes(guesser, MAX_WRONG_CODES - 1)

    assert texts(await guesser.send(code))[0] == messages.bound(COMMERCE_WINDOW, Role.STAFF)


async def test_guessing_limited_to_5_codes_an_hour_when_a_chat_keeps_trying(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    guesser = Person(app, "路人甲", channel)

    answers = await _wrong_codes(guesser, 400)  # the finding: ~366 guesses a second accepted

    assert answers.count(messages.INVITE_INVALID) == MAX_WRONG_CODES
    # Locked: answered once per reply interval, and the attempts are not even recorded.
    assert answers[MAX_WRONG_CODES:] == [messages.INVITE_LOCKED]
    guard = await _guard(app, guesser)
    assert guard.messages == 400 and guard.locked_until == clock.now() + LOCKOUT


async def test_bound_member_locked_out_too_when_guessing_codes_at_the_menu(
    app: App, channel: RecordingChannel
) -> None:
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    editor_code = await invite_code(app, Role.EDITOR)

    await _wrong_codes(staff, MAX_WRONG_CODES)

    assert texts(await staff.send(editor_code)) == [messages.INVITE_LOCKED]
    member = await member_of(app, staff)
    assert member is not None and member.role == Role.STAFF


async def test_editors_told_once_a_day_per_chat_when_a_chat_is_locked_out(
    app: App, channel: RecordingChannel, clock: FrozenClock
) -> None:
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.inbox()
    guesser = Person(app, "路人甲", channel)
    notice = messages.invite_guessing("console", "路人甲", "路人甲", MAX_WRONG_CODES)

    await _wrong_codes(guesser, MAX_WRONG_CODES)
    first = texts(await editor.inbox())
    clock.advance(LOCKOUT)
    await _wrong_codes(guesser, MAX_WRONG_CODES)  # locked again, the same day
    same_day = texts(await editor.inbox())
    clock.advance(timedelta(days=1))
    await _wrong_codes(guesser, MAX_WRONG_CODES)
    next_day = texts(await editor.inbox())

    assert (first, same_day, next_day) == ([notice], [], [notice])


async def test_code_attempt_answered_once_when_delivered_twice(
    app: App, channel: RecordingChannel
) -> None:
    stranger = Person(app, "路人甲", channel)
    attempt = stranger.incoming("WRNG-CODE-0001", update_id="telegram-99")

    first = await app.engine.handle(attempt)
    second = await app.engine.handle(attempt)

    assert [e.message.text for e in first] == [messages.INVITE_INVALID]
    assert second == []
    assert (await _guard(app, stranger)).wrong_codes == 1


async def test_binding_code_handled_once_when_delivered_twice(
    app: App, channel: RecordingChannel
) -> None:
    person = Person(app, "商务厅小王", channel)
    binding = person.incoming(await invite_code(app, Role.STAFF, COMMERCE), update_id="tg-7")

    first = await app.engine.handle(binding)
    second = await app.engine.handle(binding)

    assert next(e.message.text for e in first) == messages.bound(COMMERCE_WINDOW, Role.STAFF)
    assert second == []


async def _guard(app: App, person: Person) -> GuardRecord:
    async with app.sessions() as session:
        guard = await guards.get_guard(session, person.key.channel.value, person.key.chat_id)
    assert guard is not None
    return guard


async def test_long_number_at_the_menu_not_taken_for_a_code(
    app: App, channel: RecordingChannel
) -> None:
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    await editor.inbox()

    # A figure typed at the menu: the menu again, not 邀请码无效.
    assert texts(await editor.send("19691982")) == [messages.MENU_PROMPT]
