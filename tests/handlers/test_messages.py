"""What every user-facing text must say, checked against the declarations it describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bot.messages
from handlers import messages
from handlers.registry import HELPS, MENUS
from storage.models import Role


@pytest.mark.parametrize("role", list(Role))
def test_every_roles_help_names_every_action_of_its_menu(role: Role) -> None:
    actions = [choice.label for choice in MENUS[role] if choice.value != "help"]

    missing = [label for label in actions if label not in HELPS[role]]

    assert missing == []


@pytest.mark.parametrize("module", [messages, bot.messages])
def test_no_wording_asks_to_tap_since_text_only_channels_cannot(module: object) -> None:
    source = Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8")
    # Comments may explain the rule; only the strings matter.
    strings = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))

    assert re.findall(r"请点|点选|直接点|点击|点按|轻点", strings) == []


def test_help_says_back_goes_one_step_and_cancel_gives_up() -> None:
    assert "“返回”" in messages.HELP_SUFFIX and "“取消”" in messages.HELP_SUFFIX
    assert "返回" in messages.BACK_WORDS and "返回" not in messages.CANCEL_WORDS
