"""Files only the service can read (`bot.files`), through the commands that write them.

The commands run in-process through `bot.cli.main`, which sets the umask for the command and
puts the test's back afterwards.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from bot import messages
from bot.app import open_app_from
from bot.cli import main
from bot.errors import ConfigError
from bot.files import MAX_NAME_BYTES, check_data_dir, safe_name
from bot.typeset import find_office
from handlers import messages as handler_messages
from storage.models import Role
from tests.fakes import Person, RecordingChannel, invite_code, write_reference_config

REFERENCE_NOW = datetime(2022, 9, 14, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Wednesday
REFERENCE_FIGURES = ("617058", "611244", "19691982", "7463962", "49602", "50398")
ITEM_TEXT = "商务厅窗口推广电子营业执照应用，企业办事无需另行提交纸质营业执照。"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def reference_wednesday() -> Iterator[None]:
    with time_machine.travel(REFERENCE_NOW, tick=True):
        yield


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "zhoubao.toml"
    write_reference_config(path)
    return path


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022), under which files were world-readable before."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# --- what the commands create --------------------------------------------------------------


async def _submit_and_enter_figures(config: Path) -> None:
    app = await open_app_from(config)
    try:
        channel = RecordingChannel()
        staff = Person(app, "商务厅小王", channel)
        await staff.send(await invite_code(app, Role.STAFF, "商务厅"))
        await staff.say_all("1", "1", ITEM_TEXT, "1", "2")
        editor = Person(app, "编辑老陈", channel)
        await editor.send(await invite_code(app, Role.EDITOR))
        await editor.say_all(handler_messages.LABEL_STATISTICS, *REFERENCE_FIGURES, "1")
    finally:
        await app.close()


@pytest.mark.usefixtures("loose_umask")
def test_data_folder_database_and_drafts_are_private_when_commands_create_them(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A title with a separator: the draft's file name comes from it.
    config_text = config_path.read_text("utf-8").replace(
        'title = "窗口工作周报"', 'title = "窗口/工作周报"', 1
    )
    config_path.write_text(config_text, "utf-8")
    assert main(["--config", str(config_path), "issue", "open", "--date", "2022-09-14"]) == 0
    asyncio.run(_submit_and_enter_figures(config_path))
    assert main(["--config", str(config_path), "draft"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    data = config_path.parent / "data"
    assert mode(data) == 0o700
    database = [p for p in data.iterdir() if p.name.startswith("zhoubao.sqlite3")]
    assert database and all(mode(p) == 0o600 for p in database), database
    assert mode(data / "drafts") == 0o700
    drafts = sorted(p.name for p in (data / "drafts").iterdir())
    laid_out = [".docx", ".md", ".pdf"] if find_office() is not None else [".docx", ".md"]
    assert drafts == sorted(f"窗口_工作周报-2022年第31期{ending}" for ending in laid_out)
    assert all(mode(data / "drafts" / name) == 0o600 for name in drafts)
    assert os.umask(0o022) == 0o022  # the caller's umask is back


@pytest.mark.usefixtures("loose_umask")
def test_chat_as_a_path_stays_inside_documents_when_the_name_climbs_out(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # the person leaves at once
    assert main(["--config", str(config_path), "chat", "--as", "../../escape"]) == 0
    capsys.readouterr()
    documents = config_path.parent / "data" / "documents"
    [folder] = documents.iterdir()
    assert folder.parent == documents and "/" not in folder.name and "escape" in folder.name
    assert mode(documents) == mode(folder) == 0o700
    assert not (config_path.parent / "escape").exists()
    assert not (config_path.parent.parent / "escape").exists()


def test_zhoubao_refuses_to_start_when_others_may_write_the_data_folder(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config_path.parent / "data"
    data.mkdir()
    data.chmod(0o777)
    code = main(["--config", str(config_path), "status"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == messages.DATA_DIR_WRITABLE.format(path=data, mode="777")
    assert f"chmod 700 {data}" in err
    assert not (data / "zhoubao.sqlite3").exists()  # nothing was written there


# --- check_data_dir -----------------------------------------------------------------------


@pytest.mark.parametrize("permissions", [0o770, 0o707, 0o1777, 0o720])
def test_data_folder_is_refused_when_group_or_others_may_write(
    tmp_path: Path, permissions: int
) -> None:
    tmp_path.chmod(permissions)
    try:
        with pytest.raises(ConfigError) as raised:
            check_data_dir(tmp_path)
    finally:
        tmp_path.chmod(0o700)
    assert raised.value.key == "storage.data_dir"
    assert str(tmp_path) in str(raised.value) and "chmod 700" in str(raised.value)


def test_data_folder_is_created_private_when_missing(tmp_path: Path) -> None:
    check_data_dir(tmp_path / "a" / "data")
    assert mode(tmp_path / "a" / "data") == 0o700


def test_data_folder_others_may_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="bot.files"):
        check_data_dir(tmp_path)
    assert [r.message for r in caplog.records] == [
        "data folder readable by group or others; chmod 700 it"
    ]


def test_data_folder_is_refused_when_it_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("", "utf-8")
    with pytest.raises(ConfigError, match="这不是一个目录"):
        check_data_dir(tmp_path / "data")


# --- safe_name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("商务厅小王", "商务厅小王"),
        ("编辑 老陈", "编辑_老陈"),
        ("窗口工作周报-2022年第31期.docx", "窗口工作周报-2022年第31期.docx"),
        ("窗口/工作周报-2022年第31期.docx", "窗口_工作周报-2022年第31期.docx"),
        ("../../escape", "_.._escape"),
        ("..\\..\\escape", "_.._escape"),
        (".hidden", "hidden"),
        ("a\x00b\nc", "a_b_c"),
        ("阿卜杜拉·买买提（维）", "阿卜杜拉·买买提（维）"),
        ("Zhang_San-2", "Zhang_San-2"),
    ],
)
def test_safe_name_keeps_letters_and_replaces_the_rest(name: str, expected: str) -> None:
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["", ".", "..", "...", "/", "//", "~", " ", "._."])
def test_safe_name_is_a_distinct_plain_name_when_nothing_is_left(name: str) -> None:
    result = safe_name(name)
    assert result.startswith("_") and len(result) == 13
    assert result not in {safe_name(other) for other in ("x", "/.", ".//") if other != name}


def test_safe_name_keeps_the_extension_when_a_long_name_is_cut() -> None:
    result = safe_name("周" * 200 + ".docx")
    assert result.endswith("周.docx")
    assert len(result.encode()) <= MAX_NAME_BYTES


@given(st.text())
def test_safe_name_is_always_one_plain_file_name(name: str) -> None:
    result = safe_name(name)
    assert result and result not in (".", "..") and not result.startswith(".")
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert Path(result).name == result
    assert len(result.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES
    assert safe_name(result) == result
