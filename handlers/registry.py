"""Every conversation, in the order of their entries on the menus. Adding a flow: one line."""

from __future__ import annotations

from typing import Final

from handlers import messages
from handlers.conversations.compile_draft import COMPILE
from handlers.conversations.deadline import DEADLINE
from handlers.conversations.inspection import INSPECTION
from handlers.conversations.intake import INTAKE
from handlers.conversations.items import ITEMS
from handlers.conversations.order import ORDER
from handlers.conversations.remind import REMIND
from handlers.conversations.return_item import RETURN_FLOW
from handlers.conversations.statistics import STATISTICS
from handlers.conversations.status import STATUS
from handlers.conversations.window_control import WINDOW_CONTROL
from handlers.framework.conversation import Conversation
from handlers.framework.registry import Registered, Registry
from storage.models import Role

CONVERSATIONS: Final[tuple[Conversation, ...]] = (
    INTAKE,
    ITEMS,
    STATUS,
    REMIND,
    STATISTICS,
    INSPECTION,
    ORDER,
    DEADLINE,
    WINDOW_CONTROL,
    COMPILE,
    *RETURN_FLOW,
)

REGISTRY: Final = Registry(
    CONVERSATIONS,
    role_help={
        Role.STAFF: messages.STAFF_HELP,
        Role.EDITOR: messages.EDITOR_HELP,
        Role.ADMIN: messages.EDITOR_HELP,
        Role.INSPECTOR: messages.INSPECTOR_HELP,
    },
)
MENUS: Final = REGISTRY.menus
STAFF_MENU: Final = REGISTRY.menus[Role.STAFF]
KEYWORDS: Final = REGISTRY.keywords
HELPS: Final = {role: REGISTRY.role_help(role) for role in Role}


def all_states() -> dict[str, Registered]:
    """State name → its conversation and declaration."""
    return dict(REGISTRY.states())
