"""提醒未报送窗口: the editor reminds the silent windows now."""

from __future__ import annotations

from handlers import messages
from handlers.conversations.common import EDITOR_ROLES, latest_issue
from handlers.framework.conversation import END, Conversation, Entry, Reply, StepContext
from handlers.services.prompts import PromptKind, send_prompts
from handlers.types import Outgoing
from storage.models import Role


async def remind_now(ctx: StepContext) -> Reply:
    issue = await latest_issue(ctx)
    staff_menu = ctx.menus[Role.STAFF]
    sent = await send_prompts(ctx.session, issue, PromptKind.REMIND, ctx.now, menu=staff_menu)
    return Reply.to_menu([Outgoing(messages.reminded(sent.reached, sent.unbound))])


REMIND = Conversation(
    name="remind",
    roles=EDITOR_ROLES,
    entries=(Entry("remind", messages.LABEL_REMIND, remind_now, to=(END,), keywords=("提醒",)),),
)
