"""The inspector walks the hall checklist: one tap for the default verdict, or a finding."""

from __future__ import annotations

from enum import StrEnum

from handlers import messages
from handlers.conversations.common import (
    INSPECTION_ROLES,
    REVIEW_CHOICES,
    ask,
    back_one,
    latest_issue,
    member_id,
    require_text,
    review,
)
from handlers.errors import InputRejected
from handlers.framework.choices import choice_or_text
from handlers.framework.conversation import END, Conversation, Entry, Reply, State, StepContext
from handlers.types import Incoming, Outgoing
from report.messages import chinese_numeral
from report.normalise import normalise_item
from storage.repositories import figures

DEFAULT = "default"
MAX_FINDING_CHARS = 1000


class InspectionState(StrEnum):
    CRITERION = "inspection.criterion"
    PREVIEW = "inspection.preview"


async def start_inspection(ctx: StepContext) -> Reply:
    await latest_issue(ctx)
    ctx.data["criterion_index"] = 0
    ctx.data["verdicts"] = {}
    return Reply([], InspectionState.CRITERION)


def _default_label(ctx: StepContext) -> str:
    return ctx.settings.template.default_verdict.rstrip("。")


async def _prompt_criterion(ctx: StepContext) -> list[Outgoing]:
    index = int(ctx.data["criterion_index"])
    criterion = ctx.settings.template.criteria[index]
    return [
        ask(
            messages.ask_criterion(chinese_numeral(index + 1), criterion.label),
            (DEFAULT, _default_label(ctx)),
        )
    ]


async def _handle_criterion(ctx: StepContext, update: Incoming) -> Reply:
    template = ctx.settings.template
    if choice_or_text(update) in (DEFAULT, _default_label(ctx), template.default_verdict):
        verdict = template.default_verdict
    else:
        finding = require_text(update)
        if len(finding) > MAX_FINDING_CHARS:
            raise InputRejected(messages.text_too_long(MAX_FINDING_CHARS, len(finding)))
        verdict = normalise_item(finding)
    index = int(ctx.data["criterion_index"])
    ctx.data["verdicts"][template.criteria[index].key] = verdict
    ctx.data["criterion_index"] = index + 1
    done = index + 1 >= len(template.criteria)
    return Reply([], InspectionState.PREVIEW if done else InspectionState.CRITERION)


async def _prompt_preview(ctx: StepContext) -> list[Outgoing]:
    template = ctx.settings.template
    verdicts: dict[str, str] = ctx.data["verdicts"]
    lines = [
        f"（{chinese_numeral(i)}）{c.label}{verdicts[c.key]}"
        for i, c in enumerate(template.criteria, start=1)
    ]
    return [ask(messages.INSPECTION_PREVIEW.format(lines="\n".join(lines)), *REVIEW_CHOICES)]


async def _handle_preview(ctx: StepContext, update: Incoming) -> Reply:
    async def save() -> Reply:
        issue = await latest_issue(ctx)
        verdicts = ctx.data["verdicts"]
        await figures.save_verdicts(ctx.session, issue.id, verdicts, member_id(ctx), ctx.now)
        return Reply([Outgoing(messages.INSPECTION_SAVED)], END)

    return await review(update, again=lambda: start_inspection(ctx), save=save)


async def _back_from_criterion(ctx: StepContext) -> Reply:
    """The criterion before, or the menu from the first."""
    return back_one(ctx, "criterion_index", InspectionState.CRITERION)


async def _back_from_preview(ctx: StepContext) -> Reply:
    """The last criterion again."""
    ctx.data["criterion_index"] = len(ctx.settings.template.criteria) - 1
    return Reply([], InspectionState.CRITERION)


INSPECTION = Conversation(
    name="inspection",
    roles=INSPECTION_ROLES,
    entries=(
        Entry(
            "inspection",
            messages.LABEL_INSPECTION,
            start_inspection,
            to=(InspectionState.CRITERION,),
            keywords=("巡查",),
        ),
    ),
    states={
        InspectionState.CRITERION: State(
            _prompt_criterion,
            _handle_criterion,
            messages.INSPECTION_HELP,
            to=(InspectionState.CRITERION, InspectionState.PREVIEW, END),
            back=_back_from_criterion,
        ),
        InspectionState.PREVIEW: State(
            _prompt_preview,
            _handle_preview,
            messages.INSPECTION_HELP,
            to=(InspectionState.CRITERION, END),
            back=_back_from_preview,
        ),
    },
)
