"""The invite key: made once in the data folder (0600), the same for every later start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.app import open_app
from bot.errors import ConfigError
from bot.invite_key import KEY_FILE, _create, load_or_create
from handlers import messages
from scheduler.clock import FrozenClock
from storage.models import Role
from tests.fakes import Person, RecordingChannel, invite_code, texts
from tests.fakes import test_config as config_on


async def test_invite_key_created_readable_by_owner_only_on_first_start(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    config = config_on(tmp_path, db_url)
    app = await open_app(config, clock.now)
    await app.close()

    path = config.storage.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert app.settings.invite_key == bytes.fromhex(path.read_text())
    assert len(app.settings.invite_key) == 32


async def test_code_made_before_a_restart_binds_after_it(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    config = config_on(tmp_path, db_url)
    first = await open_app(config, clock.now)
    try:
        code = await invite_code(first, Role.EDITOR)
    finally:
        await first.close()
    again = await open_app(config, clock.now)
    try:
        replies = await Person(again, "编辑老陈", RecordingChannel()).send(code)
    finally:
        await again.close()

    assert texts(replies)[0] == messages.bound(messages.HALL, Role.EDITOR)


async def test_start_refused_with_a_clear_message_when_invite_key_is_not_a_key(
    tmp_path: Path, db_url: str, clock: FrozenClock
) -> None:
    config = config_on(tmp_path, db_url)
    config.storage.data_dir.mkdir(parents=True, exist_ok=True)
    (config.storage.data_dir / KEY_FILE).write_text("not hex at all\n")

    with pytest.raises(ConfigError) as refused:
        await open_app(config, clock.now)

    assert "invite.key" in str(refused.value)
    assert refused.value.key == "storage.data_dir"


def test_key_made_first_kept_when_two_processes_create_it_at_once(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    _create(tmp_path / KEY_FILE)  # a second process that also found no file a moment ago

    assert load_or_create(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left
