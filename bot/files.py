"""Files zhoubao writes: readable by the service alone, under names that stay where they are put.

`zhoubao` runs every command under `PRIVATE_UMASK` (`bot.cli.main`): the data folder and the
folders in it are created 0700, the database, drafts and documents 0600. `check_data_dir`
refuses a data folder that group or others may write into, and `safe_name` turns any name
that becomes part of a path (a console user's name, a draft's or a document's file name) into
one file name that cannot climb out of its folder.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import stat
import unicodedata
from pathlib import Path
from typing import Final

from bot import messages
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

PRIVATE_UMASK: Final = 0o077
PRIVATE_DIR_MODE: Final = 0o700

# A file name's limit is 255 bytes on the usual file systems; a Chinese character takes 3.
MAX_NAME_BYTES: Final = 150
# Kept as they are besides letters and digits of any script (CJK included).
_KEPT_PUNCTUATION: Final = frozenset("-_.()（）·")
# An extension kept whole when a long name is cut: ".docx", ".md".
_MAX_SUFFIX: Final = 10


def safe_name(name: str) -> str:
    """Return `name` as one safe file name: the same name when it already is one.

    Letters and digits of any script (Chinese included) and - _ . ( ) （ ） · stay; anything
    else (path separators, spaces, controls, other punctuation) becomes "_". Leading dots go
    (no hidden files, no "." or ".."); a name with no letter or digit at all becomes "_" and
    a short hash of the original, so that different odd names stay apart. The result is at
    most MAX_NAME_BYTES bytes of UTF-8, cut before its extension.
    """
    name = unicodedata.normalize("NFC", name)
    kept = "".join(c if c.isalnum() or c in _KEPT_PUNCTUATION else "_" for c in name)
    while "__" in kept:
        kept = kept.replace("__", "_")
    kept = kept.lstrip(".")
    if not any(c.isalnum() for c in kept):
        return "_" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    if len(kept.encode()) <= MAX_NAME_BYTES:
        return kept
    stem, dot, suffix = kept.rpartition(".")
    if not dot or not stem or len(suffix) > _MAX_SUFFIX:
        stem, suffix = kept, ""
    else:
        suffix = "." + suffix
    room = MAX_NAME_BYTES - len(suffix.encode())
    cut = stem.encode()[:room].decode("utf-8", "ignore")
    return cut + suffix


def check_data_dir(path: Path) -> None:
    """Create the data folder (0700) if it is missing; refuse one that others may write into.

    Group or others with write access could replace the database or plant a file where a
    draft will be written: ConfigError, naming the folder and the command that fixes it. A
    folder others may only read is allowed, with a warning: the files in it are created 0600.
    """
    try:
        if not path.is_dir() and path.exists():
            raise NotADirectoryError(errno.ENOTDIR, messages.NOT_A_DIRECTORY)
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        permissions = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        reason = messages.NO_PERMISSION if isinstance(error, PermissionError) else error.strerror
        raise ConfigError(
            messages.DATA_DIR_UNUSABLE.format(path=path, reason=reason or type(error).__name__),
            key="storage.data_dir",
        ) from None
    if permissions & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            messages.DATA_DIR_WRITABLE.format(path=path, mode=f"{permissions:o}"),
            key="storage.data_dir",
        )
    if permissions & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "data folder readable by group or others; chmod 700 it",
            extra={"path": str(path), "mode": f"{permissions:o}"},
        )
