"""The editor enters the platform's year-to-date figures for section 一."""

from __future__ import annotations

from enum import StrEnum

from handlers import messages
from handlers.conversations.common import (
    EDITOR_ROLES,
    REVIEW_CHOICES,
    ask,
    back_one,
    latest_issue,
    member_id,
    review,
)
from handlers.errors import InputRejected
from handlers.framework.conversation import END, Conversation, Entry, Reply, State, StepContext
from handlers.types import Incoming, Outgoing
from report.bulletin import Figures, IssueContent
from report.compile import statistics_sentence
from report.dates import format_date
from report.normalise import parse_count
from storage.models import Issue
from storage.repositories import figures

KINDS = ("accepted", "completed")


class StatisticsState(StrEnum):
    FIGURE = "stats.figure"
    PREVIEW = "stats.preview"


async def start_statistics(ctx: StepContext) -> Reply:
    await latest_issue(ctx)
    ctx.data["stats_index"] = 0
    ctx.data["figures"] = {}
    return Reply([], StatisticsState.FIGURE)


def _position(ctx: StepContext) -> tuple[str, str, str]:
    """The (category key, category label, kind) the current question asks for."""
    categories = ctx.settings.template.statistics_categories
    index = int(ctx.data["stats_index"])
    category = categories[index // len(KINDS)]
    return category.key, category.label, KINDS[index % len(KINDS)]


async def _prompt_figure(ctx: StepContext) -> list[Outgoing]:
    issue = await latest_issue(ctx)
    _, label, kind = _position(ctx)
    word = messages.KIND_ACCEPTED if kind == "accepted" else messages.KIND_COMPLETED
    cum_start = format_date(issue.period_end.replace(month=1, day=1))
    return [Outgoing(messages.ask_figure(label, word, cum_start, format_date(issue.period_end)))]


async def _handle_figure(ctx: StepContext, update: Incoming) -> Reply:
    count = parse_count(update.text or "")
    if count is None:
        raise InputRejected(messages.NOT_A_NUMBER)
    key, _, kind = _position(ctx)
    entered: dict[str, dict[str, int]] = ctx.data["figures"]
    entered.setdefault(key, {})[kind] = count
    ctx.data["stats_index"] = int(ctx.data["stats_index"]) + 1
    total = len(ctx.settings.template.statistics_categories) * len(KINDS)
    return Reply(
        [], StatisticsState.PREVIEW if ctx.data["stats_index"] >= total else StatisticsState.FIGURE
    )


def _figures(ctx: StepContext) -> dict[str, Figures]:
    entered: dict[str, dict[str, int]] = ctx.data["figures"]
    return {key: Figures(v["accepted"], v["completed"]) for key, v in entered.items()}


def sentence_for(ctx: StepContext, issue: Issue, values: dict[str, Figures]) -> str:
    content = IssueContent(
        year=issue.year,
        number=issue.number,
        total_number=issue.total_number,
        issue_date=issue.period_end,
        period_start=issue.period_start,
        period_end=issue.period_end,
        items=(),
        statistics=values,
    )
    return statistics_sentence(ctx.settings.template, content)


async def _prompt_preview(ctx: StepContext) -> list[Outgoing]:
    issue = await latest_issue(ctx)
    sentence = sentence_for(ctx, issue, _figures(ctx))
    return [ask(messages.STATISTICS_PREVIEW.format(sentence=sentence), *REVIEW_CHOICES)]


async def _handle_preview(ctx: StepContext, update: Incoming) -> Reply:
    async def save() -> Reply:
        issue = await latest_issue(ctx)
        values = {key: (f.accepted, f.completed) for key, f in _figures(ctx).items()}
        await figures.save_statistics(ctx.session, issue.id, values, member_id(ctx), ctx.now)
        return Reply.to_menu([Outgoing(messages.STATISTICS_SAVED)])

    return await review(update, again=lambda: start_statistics(ctx), save=save)


async def _back_from_figure(ctx: StepContext) -> Reply:
    """The figure before, or the menu from the first."""
    return back_one(ctx, "stats_index", StatisticsState.FIGURE)


async def _back_from_preview(ctx: StepContext) -> Reply:
    """The last figure again."""
    ctx.data["stats_index"] = len(ctx.settings.template.statistics_categories) * len(KINDS) - 1
    return Reply([], StatisticsState.FIGURE)


STATISTICS = Conversation(
    name="stats",
    roles=EDITOR_ROLES,
    entries=(
        Entry(
            "statistics",
            messages.LABEL_STATISTICS,
            start_statistics,
            to=(StatisticsState.FIGURE,),
            keywords=("统计",),
        ),
    ),
    states={
        StatisticsState.FIGURE: State(
            _prompt_figure,
            _handle_figure,
            messages.STATISTICS_HELP,
            to=(StatisticsState.FIGURE, StatisticsState.PREVIEW, END),
            back=_back_from_figure,
        ),
        StatisticsState.PREVIEW: State(
            _prompt_preview,
            _handle_preview,
            messages.STATISTICS_HELP,
            to=(StatisticsState.FIGURE, END),
            back=_back_from_preview,
        ),
    },
)
