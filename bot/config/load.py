"""Reading the configuration file, and writing the default one (`zhoubao init`).

`load_config` is the only way in: every problem (missing file, TOML syntax, a bad value)
becomes one `ConfigError` whose message names the file, the dotted key and the problem.
"""

from __future__ import annotations

import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from bot.config import messages
from bot.config.explain import syntax_message, validation_error
from bot.config.model import Config
from bot.errors import ConfigError
from report.text_gate import clean_text

DEFAULT_CONFIG_RESOURCE: Final = "default_config.toml"


def _through_gate(value: Any) -> Any:
    """Every text of the file through the text gate, as every text that enters zhoubao."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_through_gate(key): _through_gate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_through_gate(item) for item in value]
    return value


def load_config(path: Path) -> Config:
    """Read and validate the configuration file at `path`; raise ConfigError on any problem."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(messages.file_missing(shown), path=shown) from None
    except IsADirectoryError:
        raise ConfigError(
            messages.file_unreadable(shown, messages.NOT_A_FILE), path=shown
        ) from None
    except PermissionError:
        raise ConfigError(
            messages.file_unreadable(shown, messages.NO_PERMISSION), path=shown
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(messages.file_unreadable(shown, reason), path=shown) from None
    try:
        # Notepad on Windows saves UTF-8 with a byte order mark; TOML does not allow one.
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ConfigError(messages.not_utf8(shown), path=shown) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(syntax_message(shown, str(error)), path=shown) from None
    try:
        gated = _through_gate(data)
        return Config.model_validate(gated, context={"base_dir": path.absolute().parent})
    except ValidationError as error:
        raise validation_error(shown, error) from None


def _default_config_bytes() -> bytes:
    # Next to this module rather than importlib.resources.files("bot"): under pytest's default
    # import mode, tests/bot (no __init__.py) can shadow the package as a namespace package
    # named "bot", and files("bot") then looks in tests/bot. setuptools installs the .toml
    # beside this file (package-data), so this works for editable and wheel installs alike.
    return Path(__file__).with_name(DEFAULT_CONFIG_RESOURCE).read_bytes()


def default_config_text() -> str:
    """Return the text of the packaged default configuration."""
    return _default_config_bytes().decode("utf-8")


def write_default_config(path: Path, *, force: bool = False) -> Path | None:
    """Write the packaged default configuration to `path`.

    An existing file is never overwritten unless `force` is given; then it is first copied
    to a backup beside it, `NAME.bak-YYYYmmdd-HHMMSS` (local time; `-2`, `-3`… if that name
    is taken: no earlier backup is overwritten), and the backup's path is returned. The new
    file replaces the old one in one step and keeps its permissions (behind a symbolic link,
    the file it points to is backed up and replaced).
    """
    shown = str(path)
    content = _default_config_bytes()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if force and (path.exists() or path.is_symlink()):
            if not path.is_file():
                raise ConfigError(messages.unwritable(shown, messages.NOT_A_FILE), path=shown)
            target = path.resolve() if path.is_symlink() else path  # the link stays a link
            backup = _back_up(target)
            _replace(target, content)
            return backup
        with path.open("xb") as stream:  # "x": fail rather than overwrite, even in a race
            stream.write(content)
    except FileExistsError:
        raise ConfigError(messages.exists(shown), path=shown) from None
    except PermissionError:
        raise ConfigError(
            messages.unwritable(shown, messages.NO_WRITE_PERMISSION), path=shown
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(messages.unwritable(shown, reason), path=shown) from None
    return None


def _back_up(path: Path) -> Path:
    """Copy `path` to a backup file beside it that did not exist before; return its path."""
    stamp = datetime.now(UTC).astimezone().strftime("%Y%m%d-%H%M%S")
    base = path.with_name(f"{path.name}.bak-{stamp}")
    backup, attempt = base, 1
    while True:
        try:
            with backup.open("xb") as stream:  # "x": never overwrite an earlier backup
                stream.write(path.read_bytes())
        except FileExistsError:
            attempt += 1
            backup = base.with_name(f"{base.name}-{attempt}")
            continue
        shutil.copystat(path, backup)
        return backup


def _replace(path: Path, content: bytes) -> None:
    """Replace the file at `path` with `content` in one step, keeping its permissions."""
    temporary = path.with_name(f".{path.name}.new")
    try:
        with temporary.open("wb") as stream:
            stream.write(content)
        shutil.copymode(path, temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
