"""The one gate every text passes on its way in: what XML 1.0 and PostgreSQL cannot hold goes.

A window's item, a typed answer, a name from the configuration or the command line all become
rows in the database, lines in the log and runs in a .docx. One character that lxml refuses
(U+FFFF) or PostgreSQL refuses (NUL, a lone surrogate) would then stop the draft, the deadline
job or the log line. So before anything is stored, previewed or logged, `clean_text` removes:

- NUL and the C0 controls except tab and line breaks, DEL and the C1 controls (a terminal's
  colour sequence, ESC [ 31 m, goes whole);
- lone surrogates (U+D800–U+DFFF: only a broken decoder produces them);
- the noncharacters: U+FDD0–U+FDEF and the last two code points of every plane (U+FFFE,
  U+FFFF, U+1FFFE …);
- the byte-order mark and word joiner anywhere, and zero-width spaces and (non-)joiners where
  they touch Chinese text: invisible, they split a word for search and for the normaliser.
  A zero-width joiner between emoji (👨‍👩‍👧) is kept.

Line breaks are unified to "\n" (a pasted "\r\n" is one break). Nothing else changes: this is
not the normaliser, which rewrites punctuation for print.
"""

from __future__ import annotations

import re
from typing import Final

_PLANE_ENDS = "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
# Removed wherever they are. \t \n \r are kept (\r is unified below).
_FORBIDDEN: Final = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufeff\u2060"
    + re.escape(_PLANE_ENDS)
    + "]+"
)
# CJK ideographs, their punctuation and the full-width forms: "Chinese text" for the rule below.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_ZERO_WIDTH = "\u200b\u200c\u200d"
_ZERO_WIDTH_BY_CJK: Final = re.compile(
    f"(?<=[{_CJK}])[{_ZERO_WIDTH}]+|[{_ZERO_WIDTH}]+(?=[{_CJK}])|^[{_ZERO_WIDTH}]+|[{_ZERO_WIDTH}]+$"
)
_ZERO_WIDTH_SPACE: Final = "\u200b"  # never joins anything: removed everywhere
_CARRIAGE_RETURN: Final = re.compile("\r\n?")
# A terminal's escape sequences (colours pasted from a console) go whole, not just their ESC.
_TERMINAL_ESCAPE: Final = re.compile(
    "\x1b(?:\\[[0-?]*[ -/]*[@-~]|\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?)"
)
# Cheap test for the common case: plain text with none of the above passes untouched.
_SUSPECT: Final = re.compile(
    f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufeff\u2060{_ZERO_WIDTH}"
    + re.escape(_PLANE_ENDS)
    + "]"
)


def clean_text(text: str) -> str:
    """Return `text` without what cannot be stored, printed or logged (see the module doc)."""
    if _SUSPECT.search(text) is None:
        return text
    text = _CARRIAGE_RETURN.sub("\n", text)
    text = _TERMINAL_ESCAPE.sub("", text)
    text = _FORBIDDEN.sub("", text)
    text = text.replace(_ZERO_WIDTH_SPACE, "")
    return _ZERO_WIDTH_BY_CJK.sub("", text)


def clean_optional(text: str | None) -> str | None:
    """`clean_text` for a value that may be absent."""
    return None if text is None else clean_text(text)
