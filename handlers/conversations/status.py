"""本期报送情况: the editor reads the issue's status."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from handlers import messages
from handlers.conversations.common import EDITOR_ROLES, latest_issue
from handlers.framework.conversation import END, Conversation, Entry, Reply, StepContext
from handlers.services.status_report import status_text
from handlers.types import Outgoing


async def show_status(ctx: StepContext) -> Reply:
    issue = await latest_issue(ctx)
    zone = ZoneInfo(ctx.settings.timezone_name)
    return Reply.to_menu([Outgoing(await status_text(ctx.session, issue, zone))])


STATUS = Conversation(
    name="status",
    roles=EDITOR_ROLES,
    entries=(Entry("status", messages.LABEL_STATUS, show_status, to=(END,), keywords=("状态",)),),
)
