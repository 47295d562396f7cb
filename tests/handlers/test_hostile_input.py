"""Every step of every conversation, fed hostile input: a refusal, never an error.

For each state in the registry and each role that can reach it, a person is driven there by
the real conversation, typing what people type; the state row that leaves (its data and the
choices its prompt offered) is put back before every input, so each input answers the same
question. Hypothesis then sends updates whose text and button value are anything at all:
unpaired surrogates and noncharacters, numbers of forty digits or negative ones, circled,
parenthesised, full-width and superscript digits, the handlers' own prefixes (item:, win:,
until:, sub:) with any suffix, empty and blank messages, texts of thousands of characters.
Half of what it makes is built from the step's own choices, and every step also gets a fixed
corpus (`corpus`): the inputs that once broke a parse, so they are tried on every run.

For each input: no reply is messages.INTERNAL_ERROR, nothing is logged as an error, and
unless the input was a legitimate answer (a choice the step offered, by value, label or typed
number; a menu keyword; an order of the items) not one row of the hall's data changed: the
items and their revisions, the window reports, figures, verdicts, issues, windows, members
and invites. The ledger, the outbox and the conversation states are what handling any
update writes, so they are not compared.

The same steps are also fed to every other role, with the state row saved directly (someone
whose role changed mid-conversation), and a stranger's message is fed to the binding step.

ZHOUBAO_HOSTILE_EXAMPLES=500 searches deeper than the few examples a case CI runs.

Hypothesis runs in a loop of its own (an `asyncio.Runner` around the app), so that one app
serves every example of a case and failing inputs still shrink.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url

from bot.app import App
from handlers import messages
from handlers.framework.choices import CHOICES_KEY, resolve_choice
from handlers.registry import KEYWORDS, all_states
from handlers.types import Choice, Incoming
from report.bulletin import BulletinTemplate
from scheduler.clock import FrozenClock
from storage.models import (
    InspectionResult,
    Invite,
    Issue,
    Item,
    ItemRevision,
    Member,
    Role,
    StatisticFigure,
    Window,
    WindowReport,
)
from storage.repositories import conversations
from tests.fakes import Person, RecordingChannel, bound_person, now_in_shanghai, start_app
from tests.handlers.support import (
    BUSINESS_ENVIRONMENT,
    COMMERCE,
    HEALTH,
    ITEM,
    OTHER_ITEM,
    SERVICE_EFFICIENCY,
    THIRD_ITEM,
    add_item,
    close_current_issue,
    open_week,
    save_reference_figures,
    stored_state,
)

STRANGER: Final = "stranger"
MEMBER_ROLES: Final = (Role.STAFF, Role.EDITOR, Role.INSPECTOR, Role.ADMIN)
EDITORS: Final = (Role.EDITOR, Role.ADMIN)

# Who can reach each state by the conversations (the rest only by a role changed meanwhile).
REACHED_BY: Final[dict[str, tuple[Role, ...]]] = {
    "menu.main": MEMBER_ROLES,
    "intake.subsection": (Role.STAFF,),
    "intake.text": (Role.STAFF,),
    "intake.preview": (Role.STAFF,),
    "intake.more": (Role.STAFF,),
    "items.list": (Role.STAFF,),
    "items.action": (Role.STAFF,),
    "stats.figure": EDITORS,
    "stats.preview": EDITORS,
    "inspection.criterion": (Role.INSPECTOR, *EDITORS),
    "inspection.preview": (Role.INSPECTOR, *EDITORS),
    "order.subsection": EDITORS,
    "order.list": EDITORS,
    "deadline.choose": EDITORS,
    "hall.window": EDITORS,
    "hall.action": EDITORS,
    "compile.date": EDITORS,
    "return.pick": EDITORS,
    "return.comment": EDITORS,
    "return.revise": (Role.STAFF,),
}
NEW_TEXT: Final = "开展“帮办代办”服务，服务企业12家，群众满意。"
BUTTON: Final = "button:"  # a route's line that taps a button rather than typing
# What people type at the steps that ask for text (the order step has two items to order).
TYPED_ANSWERS: Final[dict[str | None, tuple[str, ...]]] = {
    "menu.main": ("本周无动态", "状态", "提醒", "草稿", "统计", "巡查", "排序", "帮助"),
    "intake.text": (NEW_TEXT, "1"),
    "stats.figure": ("617058", "617,058件", "0"),
    "inspection.criterion": ("大厅秩序良好，个别窗口人员离岗。",),
    "order.list": ("2 1", "1、2", "１ ２"),
    "compile.date": ("2022-09-16", "9月16日"),
}


@dataclass(frozen=True)
class Case:
    """A person of `role` at `state`, where `driver` walked by typing from the menu."""

    state: str | None  # None: no conversation at all
    driver: Role  # `role` differs when the row is saved for someone who cannot reach it
    role: Role | str
    edit: bool = False  # the text and preview steps editing an item, not adding one
    closed: bool = False  # the issue's intake closes once the person is at the step

    @property
    def name(self) -> str:
        via = "" if self.role == self.driver else f"<-{self.driver}"
        edit = "+edit" if self.edit else ""
        closed = "+closed" if self.closed else ""
        return f"{self.state or 'none'}{edit}{closed}:{self.role}{via}"


def _route(case: Case, template: BulletinTemplate) -> tuple[str, ...]:
    """What the driver types from the menu to reach the case's state."""
    figures = ("617058",) * len(template.statistics_categories) * 2
    verdicts = ("1",) * len(template.criteria)  # 总体情况良好 for each criterion
    if case.edit:
        to_text = (messages.LABEL_MY_ITEMS, "1", messages.LABEL_EDIT)
        return {"intake.text": to_text, "intake.preview": (*to_text, NEW_TEXT)}[str(case.state)]
    routes: dict[str | None, tuple[str, ...]] = {
        None: (),
        "menu.main": (),
        "intake.subsection": (messages.LABEL_SUBMIT,),
        "intake.text": (messages.LABEL_SUBMIT, "1"),
        "intake.preview": (messages.LABEL_SUBMIT, "1", NEW_TEXT),
        "intake.more": (messages.LABEL_SUBMIT, "1", NEW_TEXT, "1"),
        "items.list": (messages.LABEL_MY_ITEMS,),
        "items.action": (messages.LABEL_MY_ITEMS, "1"),
        "stats.figure": (messages.LABEL_STATISTICS,),
        "stats.preview": (messages.LABEL_STATISTICS, *figures),
        "inspection.criterion": (messages.LABEL_INSPECTION,),
        "inspection.preview": (messages.LABEL_INSPECTION, *verdicts),
        "order.subsection": (messages.LABEL_ORDER,),
        "order.list": (messages.LABEL_ORDER, "1"),
        "deadline.choose": (messages.LABEL_EXTEND,),
        "hall.window": (messages.LABEL_WINDOWS,),
        "hall.action": (messages.LABEL_WINDOWS, "1"),
        "compile.date": (messages.LABEL_COMPILE,),
        "return.pick": (messages.LABEL_RETURN,),
        "return.comment": (messages.LABEL_RETURN, "1"),
        "return.revise": (f"{BUTTON}revise:1",),  # the window's first item, returned
    }
    return routes[case.state]


def _cases() -> Iterator[Case]:
    for state, roles in REACHED_BY.items():
        for role in roles:
            yield Case(state, role, role)
    yield Case("intake.text", Role.STAFF, Role.STAFF, edit=True)
    yield Case("intake.preview", Role.STAFF, Role.STAFF, edit=True)
    yield Case(None, Role.STAFF, STRANGER)  # someone with no invite: the binding step


def _foreign_cases() -> Iterator[list[Case]]:
    """Each state saved for every role that cannot reach it, and for a stranger: one world."""
    for state, roles in REACHED_BY.items():
        others = [role for role in (*MEMBER_ROLES, STRANGER) if role not in roles]
        yield [Case(state, roles[0], role) for role in others]


def _closed_cases() -> Iterator[Case]:
    """The steps that ask whether the issue is open, after its intake closed meanwhile (an
    item then comes late; an extended deadline opens it again)."""
    for state in (*(s for s in REACHED_BY if s.startswith(("intake.", "items."))), "menu.main"):
        yield Case(state, Role.STAFF, Role.STAFF, closed=True)
    yield Case("intake.preview", Role.STAFF, Role.STAFF, edit=True, closed=True)
    yield Case("deadline.choose", Role.EDITOR, Role.EDITOR, closed=True)
    yield Case("hall.action", Role.EDITOR, Role.EDITOR, closed=True)


CASES: Final = list(_cases())
FOREIGN_CASES: Final = list(_foreign_cases())
CLOSED_CASES: Final = list(_closed_cases())


def test_every_state_of_the_registry_is_fed_hostile_input() -> None:
    assert set(REACHED_BY) == set(all_states())


# --- the inputs ---

ANY_CHARACTER: Final = st.characters(codec=None, exclude_categories=())  # surrogates too
NUMERIC_FORMS: Final = "①②③④⑨⑩⑳⑴⑵⑽⒈⒉❶❷➀➋²³⁹¹⁰₀₁₂０１２３９一二三四十百千万亿〇零两½⅓Ⅻⅻ٣۳߃३௩๓༣፫៣᠓𝟐🄂"
# Every choice value the handlers offer, and the prefixes of those that carry an id or a date.
VALUES: Final = (
    *("submit", "no_news", "my_items", "status", "remind", "compile", "order", "statistics"),
    *("inspection", "extend", "windows", "help", "confirm", "change", "cancel", "save"),
    *("again", "default", "edit", "withdraw", "back", "add", "done", "reopen", "exempt"),
    "unexempt",
)
PREFIXES: Final = ("item:", "win:", "until:", "sub:", f"sub:{BUSINESS_ENVIRONMENT}")
WORDS: Final = (
    *("", " ", "\u3000", "\n\n", "\t", "\x00", "\ud800", "\udfff", "\ufffe", "\U0010ffff"),
    *("\u200b", "\x1b[31m", "0", "-1", "1e9", "nan", "∞", "1/0", "9" * 30, "本周无动态"),
    *(messages.LABEL_BACK, "上一步", "帮助", "取消", "/start", "ABCD-EFGH"),
    "9999-12-31T23:59:59-14:00",
)

_offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
_moments = st.datetimes(timezones=st.none() | _offsets).map(lambda moment: moment.isoformat())
_integers = st.integers(min_value=-(10**40), max_value=10**40).map(str)
_forms = st.text(st.sampled_from(NUMERIC_FORMS), min_size=1, max_size=3)
# Suffixes known to have broken a parse: ids past what a database column holds, digits that
# are not ASCII, moments outside the years datetime can shift, an unpaired surrogate.
NASTY_SUFFIXES: Final = (
    *("", "0", "-1", "+1", " 1", "1 ", "²", "٣", "①", "1\x00", "\ud8001", "1.0", "1e3"),
    *("9" * 10, "9" * 20, "9" * 30, str(2**31), str(2**63), "9" * 4301),
    *("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2099-09-14T18:00:00+08:00"),
    *("2022-09-14T18:00:00", "2022-09-16T12:00:00+08:00", "business_environment\u200b"),
)
_suffixes = st.one_of(
    st.sampled_from(NASTY_SUFFIXES),
    _integers,
    st.text(st.sampled_from("0123456789"), max_size=40),
    _forms,
    _moments,
    st.text(ANY_CHARACTER, max_size=12),
)
_decorated = st.builds(
    lambda before, number, after: before + number + after,
    st.sampled_from(["", " ", "(", "（", "【", "第"]),
    _forms | st.integers(min_value=-3, max_value=30).map(str),
    st.sampled_from(["", ".", "、", ")", "）", "】", "。", "项"]),
)
_long = st.builds(
    operator.mul,
    st.sampled_from(["办", "9", "1 ", "①", "本周\ud800", "a\x00", "。"]),
    st.integers(min_value=1000, max_value=20_000),
)
HOSTILE: Final = st.one_of(
    st.text(ANY_CHARACTER, max_size=30),
    _integers,
    _decorated,
    st.builds(operator.add, st.sampled_from(PREFIXES + VALUES), _suffixes),
    st.sampled_from(WORDS + VALUES),
    _long,
)


def _prefixes(offered: list[Choice]) -> list[str]:
    """The prefixes of the step's choices that carry an id or a date (all of them if none)."""
    own = {c.value[: c.value.index(":") + 1] for c in offered if ":" in c.value}
    return sorted(own) or list(PREFIXES)


def _near(offered: list[Choice]) -> st.SearchStrategy[str]:
    """The step's own choices, as sent, slightly wrong, or in another year."""
    values = [c.value for c in offered] + [c.label for c in offered] or [""]
    return st.one_of(
        st.builds(operator.add, st.sampled_from(values), st.sampled_from(NASTY_SUFFIXES)),
        st.sampled_from(values).map(lambda value: value.replace("2022", "2099")),
        st.builds(operator.add, st.sampled_from(_prefixes(offered)), _suffixes),
    )


def _updates(offered: list[Choice]) -> st.SearchStrategy[tuple[str | None, str | None]]:
    """(text, button value) pairs: typed text, a crafted button, both, or neither.

    Half the fields are made from the step's own choices: anything at all rarely hits the
    prefix a step parses.
    """
    field = st.sampled_from([HOSTILE, _near(offered)]).flatmap(lambda strategy: strategy)
    return st.one_of(
        st.tuples(field, st.none()),
        st.tuples(st.none(), field),
        st.tuples(field, field),
        st.just((None, None)),
    )


# Buttons from other steps, for a step whose own choices carry no id or date.
OTHER_BUTTONS: Final = (
    *("item:" + "9" * 30, "item:²", "win:" + "9" * 20, "win:٣", "sub:", "sub:\ud800"),
    "until:9999-12-31T23:59:59-14:00",
)


def corpus(offered: list[Choice]) -> list[tuple[str | None, str | None]]:
    """The fixed corpus every step gets besides Hypothesis's: the inputs that once broke a
    parse, as buttons (with the step's own prefix, or other steps' buttons), and long or
    numeric texts."""
    own = [c.value[: c.value.index(":") + 1] for c in offered if ":" in c.value]
    buttons = [own[0] + suffix for suffix in NASTY_SUFFIXES] if own else list(OTHER_BUTTONS)
    typed = ["9" * 4301, "1 " * 5000, "办" * 20_000, "\ud800", "⑽", "²", "-1", "0", "9" * 30]
    return [(None, b) for b in buttons] + [(t, None) for t in typed] + [(None, None), ("", "")]


# --- the world ---


@dataclass
class World:
    app: App
    clock: FrozenClock
    people: dict[Role | str, Person]


STAFF_NAME: Final = "商务厅小王"
HEALTH_NAME: Final = "卫健委小李"
STRANGER_NAME: Final = "路人甲"


def _name(role: Role) -> str:
    return STAFF_NAME if role == Role.STAFF else f"{role}老陈"


# SQLite: the world is built once and its database file copied for each case (building it
# binds five people and stores three items: most of a case's time).
_SQLITE_WORLD: dict[str, Path] = {}


async def _world(tmp_path: Path, db_url: str) -> World:
    """The reference week, open: a person of each role and items of two windows."""
    clock = FrozenClock(now_in_shanghai(2022, 9, 14))
    database = make_url(db_url).database if db_url.startswith("sqlite") else None
    if database is not None and "file" in _SQLITE_WORLD:
        shutil.copyfile(_SQLITE_WORLD["file"], database)
        app = await start_app(tmp_path, db_url, clock)
    else:
        app = await start_app(tmp_path, db_url, clock)
        await _populate(app)
        if database is not None:
            async with app.sessions() as session:  # the whole database in its main file
                await session.execute(sql("PRAGMA wal_checkpoint(TRUNCATE)"))
            _SQLITE_WORLD["file"] = tmp_path / "world.sqlite3"
            shutil.copyfile(database, _SQLITE_WORLD["file"])
    channel = RecordingChannel()
    people: dict[Role | str, Person] = {
        role: Person(app, _name(role), channel) for role in MEMBER_ROLES
    }
    people[STRANGER] = Person(app, STRANGER_NAME, channel)
    return World(app, clock, people)


async def _populate(app: App) -> None:
    await open_week(app)
    channel = RecordingChannel()
    staff = await bound_person(app, channel, STAFF_NAME, Role.STAFF, COMMERCE)
    health = await bound_person(app, channel, HEALTH_NAME, Role.STAFF, HEALTH)
    for role in (Role.EDITOR, Role.INSPECTOR, Role.ADMIN):
        await bound_person(app, channel, _name(role), role)
    await add_item(app, staff, BUSINESS_ENVIRONMENT, ITEM)
    await add_item(app, staff, SERVICE_EFFICIENCY, OTHER_ITEM)
    await add_item(app, health, BUSINESS_ENVIRONMENT, THIRD_ITEM)
    await save_reference_figures(app)  # so that 生成草稿 reaches its date step


@dataclass(frozen=True)
class Saved:
    conversation: str
    state: str
    data: dict[str, Any]


async def _drive(world: World, case: Case) -> Saved | None:
    """Walk the route as the driver and return the state row it leaves."""
    if case.state is None:
        return None
    person = world.people[case.driver]
    for line in _route(case, world.app.settings.template):
        if line.startswith(BUTTON):  # a button of a message someone else's step sent
            await world.app.engine.handle(person.incoming(choice=line.removeprefix(BUTTON)))
        else:
            await world.app.engine.handle(person.incoming(line))
    row = await stored_state(world.app, person)
    assert row is not None and row.state == case.state, (case.name, row and row.state)
    if case.closed:
        await close_current_issue(world.app)
    return Saved(row.conversation, row.state, dict(row.data))


async def _put_back(world: World, person: Person, saved: Saved) -> None:
    """Save the person at the step again, unless they are still there (a refusal leaves the
    row be: one commit, one fsync, fewer)."""
    key = person.key
    async with world.app.sessions() as session, session.begin():
        current = await conversations.load_state(
            session, key.channel.value, key.chat_id, key.user_id
        )
        if current is not None and (current.state, current.data) == (saved.state, saved.data):
            return
        row = conversations.state_row(
            key.channel.value,
            key.chat_id,
            key.user_id,
            conversation=saved.conversation,
            state=saved.state,
            data=saved.data,
            now=world.clock.now(),
        )
        await conversations.save_states(session, [row])


DOMAIN_TABLES: Final = (
    Item,
    ItemRevision,
    WindowReport,
    StatisticFigure,
    InspectionResult,
    Issue,
    Window,
    Member,
    Invite,
)


async def _snapshot(app: App) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the hall's data, by table."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with app.sessions() as session:
        for model in DOMAIN_TABLES:
            table = model.__table__
            rows = (await session.execute(select(table))).all()
            found[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return found


def _legitimate(case: Case, saved: Saved | None, update: Incoming) -> bool:
    """Whether `update` is an answer the step may act on (and so change rows).

    The engine's own reading: a button's value or a typed label or number maps to a choice
    the prompt offered (上一步 to 返回); at the menu, a keyword too; at the order step, text.
    Nothing is legitimate from someone who could not have reached the step.
    """
    if saved is None or case.role not in REACHED_BY[saved.state]:
        return False
    offered = [Choice(value, label) for value, label in saved.data.get(CHOICES_KEY, [])]
    values = {choice.value for choice in offered}
    if update.choice is not None:
        return update.choice in values
    text = (update.text or "").strip()
    if case.state in ("order.list", "compile.date", "return.comment", "return.revise"):
        return True  # free text: a new order, a typed date, a comment, a revised item
    typed = messages.LABEL_BACK if text in messages.BACK_WORDS else text
    if resolve_choice(typed, offered) is not None:
        return True
    return case.state == "menu.main" and KEYWORDS.get(text) in values


@dataclass
class Checker:
    world: World
    case: Case
    saved: Saved | None
    caplog: pytest.LogCaptureFixture

    @property
    def person(self) -> Person:
        return self.world.people[self.case.role]

    async def feed(self, text: str | None, choice: str | None) -> None:
        """Send one update at the case's step; assert it was answered without harm."""
        if self.saved is not None:
            await _put_back(self.world, self.person, self.saved)
        update = self.person.incoming(text, choice=choice)
        before = await _snapshot(self.world.app)
        self.caplog.clear()

        sent = await self.world.app.engine.handle(update)

        shown = f"{self.case.name} fed {_short(update.text)} / {_short(update.choice)}"
        replies = [envelope.message.text for envelope in sent]
        assert messages.INTERNAL_ERROR not in replies, shown
        assert all(_storable(reply) for reply in replies), shown
        errors = [r for r in self.caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert errors == [], (shown, [r.getMessage() for r in errors])
        if not _legitimate(self.case, self.saved, update.through_gate()):
            assert await _snapshot(self.world.app) == before, shown

    async def feed_every_choice(self) -> None:
        """The step's usual answers: a few offered choices by value, label and number (and
        the number after the last), and what people type at a step that asks for text."""
        offered = self.saved.data.get(CHOICES_KEY, []) if self.saved is not None else []
        numbered = list(enumerate(offered, start=1))
        for number, (value, label) in numbered[:3] + numbered[3:][-2:]:
            await self.feed(None, value)
            await self.feed(label, None)
            await self.feed(str(number), None)
        await self.feed(str(len(offered) + 1), None)
        state = self.saved.state if self.saved is not None else None
        for text in TYPED_ANSWERS.get(state, ()):
            await self.feed(text, None)


def _short(value: str | None) -> str:
    """The input as a failure shows it: a text of thousands of characters cut short."""
    if value is None or len(value) <= 80:
        return repr(value)
    return f"{value[:80]!r}… ({len(value)} characters)"


def _storable(text: str) -> bool:
    """No unpaired surrogate: the text gate removed every one on the way in."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# A deeper search than CI's, e.g. ZHOUBAO_HOSTILE_EXAMPLES=500: Hypothesis examples a case.
EXAMPLES_ENV: Final = "ZHOUBAO_HOSTILE_EXAMPLES"


def _examples(db_url: str, sqlite: int, postgresql: int) -> int:
    """Examples a case: few, so that the file stays under a minute on SQLite."""
    if os.environ.get(EXAMPLES_ENV):
        return int(os.environ[EXAMPLES_ENV])
    return postgresql if db_url.startswith("postgresql") else sqlite


def _run(
    tmp_path: Path,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
    cases: list[Case],
    examples: int,
    *,
    with_corpus: bool = True,
) -> None:
    """Drive the cases' driver to their state once; then each case's person gets hostile
    updates there, and its usual answers last (they may change what the examples meet)."""
    with asyncio.Runner() as runner:
        world = runner.run(_world(tmp_path, db_url))
        try:
            # The log check sees what the engine logs (nothing turned its propagation off).
            logging.getLogger("bot.engine").error("probe")
            assert [r.getMessage() for r in caplog.records] == ["probe"]
            saved = runner.run(_drive(world, cases[0]))
            pairs = saved.data.get(CHOICES_KEY, []) if saved is not None else []
            offered = [Choice(value, label) for value, label in pairs]
            for case in cases:
                checker = Checker(world, case, saved, caplog)

                @settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(_updates(offered))
                def hostile(update: tuple[str | None, str | None]) -> None:
                    runner.run(checker.feed(*update))  # noqa: B023 - run before the next case

                hostile()
                for text, choice in corpus(offered) if with_corpus else ():
                    runner.run(checker.feed(text, choice))
                runner.run(checker.feed_every_choice())
        finally:
            runner.run(world.app.close())


def _on_postgresql(db_url: str, case: Case | None = None) -> None:
    """PostgreSQL runs what could fail there alone (an id past INTEGER, a name past its
    column, a surrogate): every step once, as the first role that reaches it. The other
    roles, and the checks of roles and of a closed issue, do not depend on the database."""
    if not db_url.startswith("postgresql"):
        return
    if case is None or (case.state is not None and case.role != REACHED_BY[case.state][0]):
        pytest.skip("the same steps run on SQLite; nothing here depends on the database")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_at_every_step_is_refused_without_harm(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture, case: Case
) -> None:
    _on_postgresql(db_url, case)
    _run(tmp_path, db_url, caplog, [case], _examples(db_url, sqlite=15, postgresql=10))


@pytest.mark.parametrize(
    "cases", FOREIGN_CASES, ids=[cases[0].state or "none" for cases in FOREIGN_CASES]
)
def test_a_step_saved_for_a_role_that_cannot_reach_it_changes_nothing(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture, cases: list[Case]
) -> None:
    _on_postgresql(db_url)
    _run(tmp_path, db_url, caplog, cases, _examples(db_url, sqlite=3, postgresql=0))


@pytest.mark.parametrize("case", CLOSED_CASES, ids=[case.name for case in CLOSED_CASES])
def test_hostile_input_at_a_step_whose_issue_closed_meanwhile_is_refused_without_harm(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture, case: Case
) -> None:
    _on_postgresql(db_url)
    examples = _examples(db_url, sqlite=5, postgresql=0)
    _run(tmp_path, db_url, caplog, [case], examples, with_corpus=False)
