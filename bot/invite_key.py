"""The secret invite codes are hashed with: `data_dir/invite.key`, made on first start.

32 random bytes, written as hex, readable by the zhoubao user only (0600). Every process and
server that shares the database must use the same file: a code made with one key is unknown
to a process with another (copy it to a second server with the configuration).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

KEY_FILE: Final = "invite.key"
KEY_BYTES: Final = 32


class InviteKeyError(Exception):
    """The key file exists but cannot be used (unreadable, or not a key)."""


def load_or_create(data_dir: Path) -> bytes:
    """The invite key in `data_dir`, created there (0600) if there is none yet.

    Two processes starting together end with the same key: the file appears whole, by a hard
    link from a temporary file, and the one that finds it already there reads it.
    """
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(secrets.token_hex(KEY_BYTES) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "invite key file is readable by others; chmod 600 it", extra={"path": str(path)}
        )
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InviteKeyError(f"{path}: {type(error).__name__}") from None
    if len(key) < 16:
        raise InviteKeyError(f"{path}: too short")
    return key
