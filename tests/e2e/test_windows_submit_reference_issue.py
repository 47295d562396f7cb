"""User story: three windows, the editor and the inspector produce issue 2022-31 by chat.

The reference issue's items go in as the windows typed them (their own numbering, stray
spaces, paragraphs split mid-word) through the real engine, conversation state and outbox;
the compiled Markdown must read like shared/reference/weekly-bulletin-2022-31.txt.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import date
from pathlib import Path

import docx

from bot.app import App
from bot.drafts import write_draft
from handlers import messages
from report.dates import format_period
from scheduler.jobs import open_issue
from storage.models import Role
from tests.fakes import Person, RecordingChannel, bound_person, texts
from tests.report import reference_issue as ref

CHECK_DRAFT = Path(__file__).resolve().parents[3] / "shared" / "tools" / "check-draft"


async def _open_reference_week(app: App) -> None:
    async with app.sessions() as session, session.begin():
        await open_issue(session, app.calendar, date(2022, 9, 14), app.numbering, app.clock())


async def _submit(person: Person, subsection_number: str, text: str) -> None:
    """From the menu: 提交动态, choose the subsection, send the text, confirm, finish."""
    replies = await person.say_all("1", subsection_number)
    assert replies[-1].text.endswith(messages.ASK_TEXT)
    preview = await person.send(text)
    assert messages.LABEL_CONFIRM in [c.label for c in preview[-1].choices]
    confirmed = await person.send("1")
    assert confirmed[-1].choices[0].label == messages.LABEL_ADD_MORE
    done = await person.send("2")
    assert done[-1].text.startswith("好的，本期共收到本窗口")


async def play_reference_issue(app: App, channel: RecordingChannel) -> Person:
    """Windows, the inspector and the editor enter issue 2022-31 by chat; return the editor."""
    commerce = await bound_person(app, channel, "商务厅小王", Role.STAFF, "商务厅")
    health = await bound_person(app, channel, "卫健委小李", Role.STAFF, "省卫健委")
    housing = await bound_person(app, channel, "住建厅小张", Role.STAFF, "住建厅")
    education = await bound_person(app, channel, "教育厅小赵", Role.STAFF, "教育厅")
    editor = await bound_person(app, channel, "编辑老陈", Role.EDITOR)
    inspector = await bound_person(app, channel, "巡查员小刘", Role.INSPECTOR)
    for person in (commerce, health, housing, education, editor, inspector):
        await person.inbox()  # the binding replies

    await _open_reference_week(app)
    period = format_period(date(2022, 9, 13), date(2022, 9, 16))
    assert texts(await commerce.inbox()) == [messages.weekly_prompt("商务厅窗口", period)]

    be, se = ref.RAW_BUSINESS_ENVIRONMENT_ITEMS, ref.RAW_SERVICE_EFFICIENCY_ITEMS
    await _submit(commerce, "1", be[0])
    await _submit(commerce, "2", se[1])
    await _submit(health, "1", be[1])
    await _submit(health, "2", se[0])
    await _submit(health, "2", se[3])
    await _submit(housing, "2", se[2])
    await education.inbox()  # the weekly prompt
    assert texts(await education.send("本周无动态")) == [messages.no_news_recorded("教育厅窗口")]

    # The inspector: five taps for the default verdict, one finding, then save.
    await inspector.say_all("1", "1", "1", "1", "1", "1")
    preview = await inspector.send(ref.PREVENTION_VERDICT.rstrip("。"))
    assert "（六）大厅防控情况。全体居家办公，大厅实行关闭状态。" in preview[0].text
    assert texts(await inspector.send("1")) == [messages.INSPECTION_SAVED]

    # The editor: statistics (a thousands separator and full-width digits, as pasted),
    # then the order of （二） as printed in the reference, then the draft.
    await editor.say_all(messages.LABEL_STATISTICS, "617,058", "611244", "19691982")
    statistics_preview = await editor.say_all("７４６３９６２", "49602", "50398")
    assert ref.STATISTICS_SENTENCE in statistics_preview[-1].text
    assert texts(await editor.send("1"))[0] == messages.STATISTICS_SAVED
    await editor.say_all(messages.LABEL_ORDER, "2")
    assert texts(await editor.send("2 1 4 3"))[0] == messages.ORDER_SAVED

    status = texts(await editor.send(messages.LABEL_STATUS))[0]
    assert "已提交（3）：商务厅窗口、省卫健委窗口、住建厅窗口" in status
    assert "本周无动态（1）：教育厅窗口" in status

    return editor


async def test_reference_issue_compiles_from_conversations(
    app: App, channel: RecordingChannel, tmp_path: Path
) -> None:
    editor = await play_reference_issue(app, channel)

    written = await write_draft(app, tmp_path / "drafts", date(2022, 10, 21))
    paragraphs = [
        line.replace("<b>", "").replace("</b>", "")
        for line in written.markdown_path.read_text("utf-8").split("\n\n")
    ]
    printed = [p.lstrip("#").strip() for p in paragraphs if p.strip() and p.strip() != "---"]
    assert printed == list(ref.EXPECTED_LINES)
    assert "教育厅窗口" not in written.markdown_path.read_text("utf-8")
    assert "教育厅窗口" not in written.compiled.silent_windows  # it answered 本周无动态
    assert "公安厅窗口" in written.compiled.silent_windows

    if CHECK_DRAFT.exists():  # shared/ lies beside the checkout here and in CI
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(CHECK_DRAFT), str(written.markdown_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout
        assert "35/35 reference elements present" in result.stdout

    document = docx.Document(str(written.docx_path))
    body = [p.text for p in document.paragraphs if p.text]
    assert f"（4）{ref.EXPECTED_SERVICE_EFFICIENCY_ITEMS[3]}" in body

    # The editor's own compile asks the issue date, then sends the same draft back.
    asked = await editor.send(messages.LABEL_COMPILE)
    assert asked[-1].choices[0].label == "2022年10月21日（周五）"  # chosen by write_draft
    compiled = await editor.send("1")
    assert compiled[0].document is not None
    assert compiled[0].document.content[:2] == b"PK"  # a zip: the .docx
