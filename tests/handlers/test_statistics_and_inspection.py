"""The editor enters the year-to-date statistics; the inspector walks the hall checklist."""

from __future__ import annotations

from sqlalchemy import update

from bot.app import App
from handlers import messages
from storage.models import Member, Role
from storage.repositories import figures
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.handlers.support import (
    REFERENCE_FIGURES,
    current_issue,
    member_of,
    open_week,
    saved_statistics,
    state_of,
)
from tests.report import reference_issue as ref

# The reference issue's figures in entry order: permit, public, other; accepted then completed.
FIGURES = ["617058", "611244", "19691982", "7463962", "49602", "50398"]
DEFAULT_VERDICT = "总体情况良好。"
CRITERIA = ["attendance", "workspace", "dress", "badge", "discipline", "prevention"]


async def _editor(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    return await bound_person(app, channel, "编辑老陈", Role.EDITOR)


async def _saved_verdicts(app: App) -> dict[str, str]:
    issue = await current_issue(app)
    async with app.sessions() as session:
        return await figures.verdicts(session, issue.id)


# --- statistics ---


async def test_figures_saved_when_editor_enters_and_confirms(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_STATISTICS)

    preview = texts(await editor.say_all(*FIGURES))[-1]
    assert preview == messages.STATISTICS_PREVIEW.format(sentence=ref.STATISTICS_SENTENCE)
    assert texts(await editor.send(messages.LABEL_SAVE)) == [
        messages.STATISTICS_SAVED,
        messages.MENU_PROMPT,
    ]

    assert await saved_statistics(app) == REFERENCE_FIGURES


async def test_figures_accepted_when_typed_with_separators_full_width_digits_or_spaces(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_STATISTICS)

    replies = texts(await editor.say_all("617,058", "６１１２４４", " 19691982 ", "7,463，962"))
    replies += texts(await editor.say_all("49602", "50398", "1"))

    assert messages.NOT_A_NUMBER not in replies
    assert await saved_statistics(app) == REFERENCE_FIGURES


async def test_figures_accepted_when_typed_with_their_unit(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_STATISTICS)

    replies = texts(await editor.say_all("617058件", "611,244 件", "19691982件", "7463962件"))
    replies += texts(await editor.say_all("４９６０２件", "50398件。", "1"))

    assert messages.NOT_A_NUMBER not in replies
    assert await saved_statistics(app) == REFERENCE_FIGURES


async def test_figures_accepted_when_completed_exceeds_accepted(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_STATISTICS)

    replies = texts(await editor.say_all(*FIGURES))

    assert messages.NOT_A_NUMBER not in replies
    assert "其它九类行权事项受理49602件，累计办结50398件。" in replies[-1]
    await editor.send("1")
    assert (await saved_statistics(app))["other"] == (49602, 50398)


async def test_nothing_saved_when_statistics_cancelled_at_preview(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_STATISTICS)
    await editor.say_all(*FIGURES)

    assert texts(await editor.send("3")) == [messages.CANCELLED]  # the preview's 取消
    assert await saved_statistics(app) == {}


async def test_statistics_not_started_when_staff_asks_for_them(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, "商务厅")

    await staff.send("统计")
    await staff.send(choice="statistics")

    assert await state_of(app, staff) == "menu.main"
    assert await saved_statistics(app) == {}


async def test_staff_told_editors_only_when_asking_for_statistics(
    app: App, channel: RecordingChannel
) -> None:
    await open_week(app)
    staff = await bound_person(app, channel, "商务厅小王", Role.STAFF, "商务厅")

    assert texts(await staff.send("统计")) == [messages.EDITOR_ONLY, messages.MENU_PROMPT]


async def test_figures_not_saved_when_editor_lost_role_before_saving(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_STATISTICS)
    await editor.say_all(*FIGURES)
    member = await member_of(app, editor)
    assert member is not None
    async with app.sessions() as session, session.begin():
        await session.execute(update(Member).where(Member.id == member.id).values(role="staff"))

    assert texts(await editor.send("1")) == [messages.EDITOR_ONLY]
    assert await saved_statistics(app) == {}


async def test_statistics_refused_when_no_issue_exists(app: App, channel: RecordingChannel) -> None:
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)

    assert texts(await editor.send(messages.LABEL_STATISTICS)) == [messages.NO_OPEN_ISSUE]
    assert await state_of(app, editor) == "menu.main"


# --- inspection ---


async def _inspector(app: App, channel: RecordingChannel) -> Person:
    await open_week(app)
    return await bound_person(app, channel, "巡查员小刘", Role.INSPECTOR)


async def test_verdicts_saved_when_inspector_taps_default_and_sends_finding(
    app: App, channel: RecordingChannel
) -> None:
    inspector = await _inspector(app, channel)
    await inspector.send(messages.LABEL_INSPECTION)
    await inspector.say_all("1", "1", "1")  # typed number
    await inspector.send(choice="default")  # button
    await inspector.send(DEFAULT_VERDICT.rstrip("。"))  # typed label
    preview = texts(await inspector.send("全体居家办公,大厅实行关闭状态"))

    assert "（六）大厅防控情况。全体居家办公，大厅实行关闭状态。" in preview[0]
    assert texts(await inspector.send(messages.LABEL_SAVE)) == [messages.INSPECTION_SAVED]
    assert await _saved_verdicts(app) == dict.fromkeys(CRITERIA[:5], DEFAULT_VERDICT) | {
        "prevention": "全体居家办公，大厅实行关闭状态。"
    }


async def test_finding_normalised_with_final_full_stop_when_typed_without(
    app: App, channel: RecordingChannel
) -> None:
    inspector = await _inspector(app, channel)
    await inspector.send(messages.LABEL_INSPECTION)

    await inspector.say_all("个别窗口人员迟到 5 分钟", "1", "1", "1", "1", "1", "1")

    assert (await _saved_verdicts(app))["attendance"] == "个别窗口人员迟到5分钟。"


async def test_criterion_asked_again_when_finding_empty(
    app: App, channel: RecordingChannel
) -> None:
    inspector = await _inspector(app, channel)
    await inspector.send(messages.LABEL_INSPECTION)

    assert texts(await inspector.send(None)) == [messages.EMPTY_MESSAGE]
    assert await state_of(app, inspector) == "inspection.criterion"


async def test_nothing_saved_when_inspection_cancelled(app: App, channel: RecordingChannel) -> None:
    inspector = await _inspector(app, channel)
    await inspector.send(messages.LABEL_INSPECTION)
    await inspector.say_all("1", "1", "1")

    assert texts(await inspector.send("取消")) == [messages.CANCELLED, messages.MENU_PROMPT]
    assert await _saved_verdicts(app) == {}


async def test_editor_can_enter_inspection_when_no_inspector(
    app: App, channel: RecordingChannel
) -> None:
    editor = await _editor(app, channel)
    await editor.send(messages.LABEL_INSPECTION)

    await editor.say_all("1", "1", "1", "1", "1", "1", "1")

    assert await _saved_verdicts(app) == dict.fromkeys(CRITERIA, DEFAULT_VERDICT)
