"""Choices offered and answered: a button's value, a typed label, or the number before it."""

from __future__ import annotations

import unicodedata
from typing import Any, Final

from handlers.types import Choice, Incoming

# In a state's data: the choices its prompt offered last, as [value, label] pairs. The runtime
# writes it with every prompt, so a typed "2" maps back and a button is checked against it.
CHOICES_KEY: Final = "_choices"


def offered_in(data: dict[str, Any]) -> list[Choice]:
    """The choices last offered, as kept in a state's data."""
    return [Choice(value, label) for value, label in data.get(CHOICES_KEY, [])]


def keep_offered(data: dict[str, Any], choices: list[Choice] | tuple[Choice, ...]) -> None:
    """Keep `choices` in a state's data as the ones offered last."""
    data[CHOICES_KEY] = [[c.value, c.label] for c in choices]


def choice_or_text(update: Incoming) -> str:
    """Return the button value if there is one, else the stripped text."""
    if update.choice is not None:
        return update.choice
    return (update.text or "").strip()


# Marks around a typed number that do not change it: 2.  2、  (2)  【2】  and the forms
# NFKC spells out (⑵ -> (2), ⒉ -> 2.).
_NUMBER_DECORATION: Final = " .。．、,，:：()（）[]【】"
_MAX_CHOICE_DIGITS: Final = 4  # int() of a long string is slow or refused; no menu is that long


def typed_number(text: str) -> int | None:
    """The whole number a person typed to pick a choice, else None.

    Accepts 2, ２, 2., 2、, (2), ②, ⑵, ⒉, ❷, ², ₂, 二: every form whose NFKC folding, or whose
    Unicode numeric value as a single character, is a plain positive number. Never raises.
    """
    folded = unicodedata.normalize("NFKC", text).strip().strip(_NUMBER_DECORATION)
    if folded.isascii():
        if folded.isdecimal() and len(folded) <= _MAX_CHOICE_DIGITS and int(folded) >= 1:
            return int(folded)
        return None
    if len(folded) == 1:  # ❷ ➋ 二: numeric characters NFKC leaves alone
        value = unicodedata.numeric(folded, 0)
        if value >= 1 and value == int(value):
            return int(value)
    return None


def resolve_choice(text: str, offered: list[Choice]) -> str | None:
    """Map a typed reply (a label, a value, or the number shown before it) to an offered value.

    The one place a typed number picks a choice: a number out of range, or anything else, is
    None, never an error.
    """
    stripped = text.strip()
    for choice in offered:
        if stripped == choice.label or stripped == choice.value:
            return choice.value
    number = typed_number(stripped)
    if number is not None and 1 <= number <= len(offered):
        return offered[number - 1].value
    return None
