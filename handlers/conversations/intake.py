"""Window staff submit their week's news items: subsection, text, preview, confirm.

The text and preview steps also serve an edit of an item from 查看/修改已交动态 (items.py),
which comes back to its list.
"""

from __future__ import annotations

from enum import StrEnum


class IntakeState(StrEnum):
    # Defined before the imports: items.py imports it, and this module imports items.py's.
    SUBSECTION = "intake.subsection"
    TEXT = "intake.text"
    PREVIEW = "intake.preview"
    MORE = "intake.more"


from handlers import messages  # noqa: E402
from handlers.conversations.common import (  # noqa: E402
    STAFF_ROLES,
    ask,
    clean_text,
    member_id,
    member_window,
    open_issue,
    own_item,
    require_text,
    submission_issue,
)
from handlers.conversations.items import ItemsState  # noqa: E402
from handlers.errors import InputRejected  # noqa: E402
from handlers.framework.choices import choice_or_text  # noqa: E402
from handlers.framework.conversation import (  # noqa: E402
    END,
    Conversation,
    Entry,
    Reply,
    State,
    StepContext,
    back_to,
)
from handlers.services.delivery import member_key  # noqa: E402
from handlers.services.draft_delivery import editors  # noqa: E402
from handlers.types import Envelope, Incoming, Outgoing  # noqa: E402
from report.normalise import item_content, normalise_item  # noqa: E402
from storage.repositories import submissions  # noqa: E402

SUBSECTION_PREFIX = "sub:"
_ITEM_COUNT = "intake.item_count"  # a step's memo: the window's items, counted just now


async def start_intake(ctx: StepContext) -> Reply:
    """Begin a new item: ask for the subsection unless there is only one."""
    await submission_issue(ctx)
    await member_window(ctx)
    for key in ("edit_item", "subsection", "text"):
        ctx.data.pop(key, None)
    subsections = ctx.settings.template.subsections
    if len(subsections) == 1:
        ctx.data["subsection"] = subsections[0].key
        return Reply([], IntakeState.TEXT)
    return Reply([], IntakeState.SUBSECTION)


def _subsection_title(ctx: StepContext) -> str:
    return ctx.settings.template.subsection(str(ctx.data["subsection"])).title


async def _prompt_subsection(ctx: StepContext) -> list[Outgoing]:
    subsections = ctx.settings.template.subsections
    return [
        ask(messages.ASK_SUBSECTION, *((SUBSECTION_PREFIX + s.key, s.title) for s in subsections))
    ]


async def _handle_subsection(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    keys = {s.key for s in ctx.settings.template.subsections}
    key = value.removeprefix(SUBSECTION_PREFIX)
    if not value.startswith(SUBSECTION_PREFIX) or key not in keys:
        raise InputRejected(messages.CHOOSE_NUMBER)
    ctx.data["subsection"] = key
    return Reply([], IntakeState.TEXT)


async def _prompt_text(ctx: StepContext) -> list[Outgoing]:
    if "edit_item" in ctx.data:
        return [Outgoing(messages.ASK_NEW_TEXT)]
    return [Outgoing(messages.ask_text(_subsection_title(ctx)))]


async def _handle_text(ctx: StepContext, update: Incoming) -> Reply:
    ctx.data["text"] = item_text(ctx, update)
    return Reply([], IntakeState.PREVIEW)


def item_text(ctx: StepContext, update: Incoming) -> str:
    """The update's text as an item of the subsection in `ctx.data`; rejected if it is none."""
    text = require_text(update)
    limit = ctx.settings.max_item_chars
    if len(text) > limit:
        raise InputRejected(messages.text_too_long(limit, len(text)))
    refusal = _not_an_item(ctx, text)
    if refusal is not None:
        raise InputRejected(refusal)
    return text


def _not_an_item(ctx: StepContext, text: str) -> str | None:
    """Why `text` cannot be an item (only punctuation, only a number, too short), or None.

    A bare number is most often a choice typed where the conversation expected text (after a
    reconnection, say), so its refusal says where the person is.
    """
    if text in messages.NO_NEWS_WORDS:
        return messages.NO_NEWS_AT_TEXT_STEP
    content = item_content(text)
    if not content:
        return messages.ITEM_HAS_NO_WORDS
    if content.isnumeric():
        return messages.item_is_a_number(_subsection_title(ctx))
    minimum = ctx.settings.min_item_chars
    if len(content) < minimum:
        return messages.item_too_short(minimum, len(content))
    return None


async def _prompt_preview(ctx: StepContext) -> list[Outgoing]:
    text = normalise_item(str(ctx.data["text"]))
    confirm = messages.LABEL_SAVE_EDIT if "edit_item" in ctx.data else messages.LABEL_CONFIRM
    return [
        ask(
            messages.preview(_subsection_title(ctx), text),
            ("confirm", confirm),
            ("change", messages.LABEL_CHANGE),
            ("cancel", messages.LABEL_CANCEL),
        )
    ]


async def _handle_preview(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    if value == "change":
        return Reply([], IntakeState.TEXT)
    if value == "cancel":
        return Reply([Outgoing(messages.CANCELLED)], END)
    if value != "confirm":
        raise InputRejected(messages.CHOOSE_NUMBER)
    window = await member_window(ctx)
    text = clean_text(str(ctx.data["text"]))
    subsection = str(ctx.data["subsection"])
    if "edit_item" in ctx.data:
        item = await own_item(ctx, int(ctx.data["edit_item"]))
        await submissions.revise_item(
            ctx.session,
            item,
            text=text,
            subsection=subsection,
            editor_id=member_id(ctx),
            now=ctx.now,
        )
        ctx.data.pop("edit_item")
        return Reply([Outgoing(messages.EDITED)], ItemsState.LIST)
    issue, late = await submission_issue(ctx)
    await submissions.add_item(
        ctx.session,
        issue_id=issue.id,
        window_id=window.id,
        subsection=subsection,
        text=text,
        author_id=member_id(ctx),
        now=ctx.now,
        late=late,
    )
    if late:
        # The draft went out already: tell the editors, who decide whether to include it.
        for editor in await editors(ctx.session):
            ctx.send_to(Envelope(member_key(editor), Outgoing(messages.late_item(window.name))))
        return Reply([Outgoing(messages.SUBMITTED_LATE)], END)
    items, no_news = await submissions.window_standing(ctx.session, issue.id, window.id)
    ctx.memo[_ITEM_COUNT] = items  # for the next prompt: 已交 n 条
    # An item outranks an earlier 本周无动态.
    if no_news:
        await submissions.set_no_news(
            ctx.session, issue.id, window.id, False, member_id(ctx), ctx.now
        )
    return Reply([], IntakeState.MORE)


async def _window_count(ctx: StepContext) -> int:
    if _ITEM_COUNT in ctx.memo:
        return int(ctx.memo[_ITEM_COUNT])
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    return await submissions.window_item_count(ctx.session, issue.id, window.id)


async def _prompt_more(ctx: StepContext) -> list[Outgoing]:
    return [
        ask(
            messages.submitted(await _window_count(ctx)),
            ("add", messages.LABEL_ADD_MORE),
            ("done", messages.LABEL_DONE),
        )
    ]


async def _handle_more(ctx: StepContext, update: Incoming) -> Reply:
    value = choice_or_text(update)
    if value == "add":
        return await start_intake(ctx)
    if value == "done":
        return Reply([Outgoing(messages.finished(await _window_count(ctx)))], END)
    raise InputRejected(messages.CHOOSE_NUMBER)


async def record_no_news(ctx: StepContext) -> Reply:
    """The window says it has nothing this week (本周无动态)."""
    issue = await open_issue(ctx)
    window = await member_window(ctx)
    count = await submissions.window_item_count(ctx.session, issue.id, window.id)
    if count:
        raise InputRejected(messages.no_news_but_items(count))
    await submissions.set_no_news(ctx.session, issue.id, window.id, True, member_id(ctx), ctx.now)
    return Reply([Outgoing(messages.no_news_recorded(window.name))], END)


async def _back_from_text(ctx: StepContext) -> Reply:
    """Back from the text: an edit to its item's actions, a new item to its subsection."""
    if "edit_item" in ctx.data:
        ctx.data.pop("edit_item")
        return Reply([], ItemsState.ACTION)
    if len(ctx.settings.template.subsections) > 1:
        return Reply([], IntakeState.SUBSECTION)
    return Reply.to_menu([])


INTAKE = Conversation(
    name="intake",
    roles=STAFF_ROLES,
    entries=(
        Entry(
            "submit",
            messages.LABEL_SUBMIT,
            start_intake,
            to=(IntakeState.SUBSECTION, IntakeState.TEXT),
            keywords=("提交", "提交动态"),
        ),
        Entry(
            "no_news",
            messages.LABEL_NO_NEWS,
            record_no_news,
            to=(END,),
            keywords=tuple(sorted(messages.NO_NEWS_WORDS)),
        ),
    ),
    states={
        IntakeState.SUBSECTION: State(
            _prompt_subsection,
            _handle_subsection,
            messages.ASK_SUBSECTION_HELP,
            to=(IntakeState.TEXT,),
        ),
        IntakeState.TEXT: State(
            _prompt_text,
            _handle_text,
            messages.ASK_TEXT_HELP,
            to=(IntakeState.PREVIEW, IntakeState.SUBSECTION, ItemsState.ACTION, END),
            back=_back_from_text,
        ),
        IntakeState.PREVIEW: State(
            _prompt_preview,
            _handle_preview,
            messages.PREVIEW_HELP,
            to=(IntakeState.TEXT, IntakeState.MORE, ItemsState.LIST, END),
            back=back_to(IntakeState.TEXT),
        ),
        IntakeState.MORE: State(
            _prompt_more,
            _handle_more,
            messages.MORE_HELP,
            to=(IntakeState.SUBSECTION, IntakeState.TEXT, END),
        ),
    },
)
