"""The declarations add up: every conversation's graph walked, the menus derived from them."""

from __future__ import annotations

from enum import StrEnum

import pytest

from bot.app import App
from handlers import messages
from handlers.framework.conversation import END, Conversation, Entry, Reply, State, StepContext
from handlers.framework.menu import MenuState
from handlers.framework.registry import Registry, RegistryError
from handlers.framework.runtime import Runtime
from handlers.registry import REGISTRY
from handlers.types import Incoming, Outgoing
from storage.models import Role
from storage.repositories import members
from tests.fakes import RecordingChannel, bound_person
from tests.handlers.support import COMMERCE, open_week

ROLE_HELP = {role: "流程：做事" for role in Role}


def test_every_conversation_declared_adds_up() -> None:
    assert REGISTRY.problems() == []


def test_every_state_reachable_from_the_menu() -> None:
    reached = {MenuState.MAIN.value} | {
        str(target)
        for _, registered in REGISTRY.states().items()
        for target in registered.state.to
        if target is not END
    }
    for conversation in REGISTRY.conversations:
        reached |= {str(t) for entry in conversation.entries for t in entry.to if t is not END}
    assert reached == set(REGISTRY.states())


def test_every_role_has_a_menu_ending_with_help() -> None:
    for role in Role:
        menu = REGISTRY.menu(role)
        assert len(menu) >= 2
        assert menu[-1].label == messages.LABEL_HELP
        assert all(choice.label in REGISTRY.role_help(role) for choice in menu[:-1])


class _Flow(StrEnum):
    ASK = "flow.ask"
    LOST = "flow.lost"


class _Elsewhere(StrEnum):
    NOWHERE = "elsewhere.nowhere"


async def _prompt(ctx: StepContext) -> list[Outgoing]:
    return [Outgoing("?")]


async def _step(ctx: StepContext, update: Incoming) -> Reply:
    return Reply([], END)


async def _start(ctx: StepContext) -> Reply:
    return Reply([], _Flow.ASK)


def _flow(states: dict[StrEnum, State], roles: frozenset[Role] = frozenset(Role)) -> Conversation:
    entry = Entry("flow", "流程", _start, to=(_Flow.ASK,))
    return Conversation("flow", roles, (entry,), states)


def test_a_state_no_step_goes_to_is_reported_unreachable() -> None:
    registry = Registry(
        [
            _flow(
                {
                    _Flow.ASK: State(_prompt, _step, "", to=(END,)),
                    _Flow.LOST: State(_prompt, _step, "", to=(END,)),
                }
            )
        ],
        ROLE_HELP,
    )
    assert registry.problems() == ["state flow.lost cannot be reached from the menu"]


def test_a_next_state_no_conversation_declares_is_reported() -> None:
    registry = Registry(
        [
            _flow(
                {
                    _Flow.ASK: State(_prompt, _step, "", to=(_Flow.LOST, _Elsewhere.NOWHERE)),
                    _Flow.LOST: State(_prompt, _step, "", to=(END,)),
                }
            )
        ],
        ROLE_HELP,
    )
    assert registry.problems() == [
        "flow.ask goes to elsewhere.nowhere, which no conversation declares"
    ]


def test_a_state_of_the_enum_left_undeclared_is_reported() -> None:
    registry = Registry([_flow({_Flow.ASK: State(_prompt, _step, "", to=(END,))})], ROLE_HELP)
    assert registry.problems() == [f"flow: states without a declaration: {[_Flow.LOST]}"]


def test_a_role_without_an_entry_makes_the_runtime_refuse_to_start(app: App) -> None:
    only_staff = _flow(
        {
            _Flow.ASK: State(_prompt, _step, "", to=(_Flow.LOST,)),
            _Flow.LOST: State(_prompt, _step, "", to=(END,)),
        },
        frozenset({Role.STAFF}),
    )
    registry = Registry([only_staff], ROLE_HELP)
    assert f"role {Role.EDITOR} has an empty menu" in registry.problems()
    with pytest.raises(RegistryError):
        Runtime(registry, app.settings)


# --- a turn without the engine ---


async def test_a_turn_runs_without_a_batch(app: App, channel: RecordingChannel) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    runtime = Runtime(REGISTRY, app.settings)
    async with app.sessions() as session:
        member = await members.get_member(session, staff.key.channel.value, staff.key.user_id)
        turn = await runtime.turn(
            session, staff.incoming(messages.LABEL_SUBMIT), member, None, app.clock()
        )
        await session.rollback()

    assert [(e.to, e.message.text) for e in turn.envelopes] == [
        (staff.key, messages.ASK_SUBSECTION)
    ]
    assert turn.state is not None and turn.state["state"] == "intake.subsection"
    assert turn.keep_changes


async def test_a_rejected_answer_is_an_answer_whose_changes_are_undone(
    app: App, channel: RecordingChannel
) -> None:
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, COMMERCE)
    runtime = Runtime(REGISTRY, app.settings)
    async with app.sessions() as session:
        member = await members.get_member(session, staff.key.channel.value, staff.key.user_id)
        turn = await runtime.turn(
            session, staff.incoming(messages.LABEL_SUBMIT), member, None, app.clock()
        )

    assert [e.message.text for e in turn.envelopes] == [messages.NO_OPEN_ISSUE]
    assert turn.state is None and not turn.clear_state
    assert not turn.keep_changes
