"""Every conversation, and the menu actions that start them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from handlers import editor, hall, intake, items, menu, statistics
from handlers.conversation import Conversation, State
from handlers.inspection import INSPECTION, start_inspection

CONVERSATIONS: Final[tuple[Conversation, ...]] = (
    menu.MENU,
    intake.INTAKE,
    items.ITEMS,
    statistics.STATISTICS,
    INSPECTION,
    editor.ORDER,
    editor.COMPILE,
    hall.HALL,
)

menu.ACTIONS.update(
    {
        "submit": intake.start_intake,
        "no_news": intake.record_no_news,
        "my_items": items.start_items,
        "status": editor.show_status,
        "remind": editor.remind_now,
        "compile": editor.compile_now,
        "order": editor.start_order,
        "statistics": statistics.start_statistics,
        "inspection": start_inspection,
        "extend": hall.start_extend,
        "windows": hall.start_windows,
    }
)


def all_states() -> Mapping[str, tuple[Conversation, State]]:
    """State name → (its conversation, the state)."""
    return {
        name: (conversation, state)
        for conversation in CONVERSATIONS
        for name, state in conversation.states.items()
    }
