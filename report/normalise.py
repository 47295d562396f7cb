"""Clean up window submissions (bulletin-format.md §3) and parse figures typed by the editor.

Only item text goes through `normalise_item`; fixed and configured text is printed verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Character classes. "Wide" text is what the spec calls CJK: ideographs, CJK and full-width
# punctuation, and the punctuation Chinese shares with English typography (curly quotes, —, …).
_HAN: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_PUNCT: Final = "\u3000-\u303f\uff00-\uffef"
_SHARED_PUNCT: Final = "“”‘’—…·"
_HAN_RE: Final = re.compile(f"[{_HAN}]")
_CJK_PUNCT_RE: Final = re.compile(f"[{_CJK_PUNCT}]")
_WIDE_RE: Final = re.compile(f"[{_HAN}{_CJK_PUNCT}{_SHARED_PUNCT}]")

MAX_COUNT: Final = 2**63 - 1  # the largest figure a database column (BIGINT) holds
_MAX_COUNT_DIGITS: Final = len(str(MAX_COUNT))
FULL_WIDTH_DIGITS: Final = str.maketrans("０１２３４５６７８９", "0123456789")
_LINE_BREAK_RE: Final = re.compile("\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")

# What `_clean_line` does to single characters, as regex classes and a translate table, so
# that a line is cleaned in C rather than character by character in Python.
# Space separators: every character of Unicode category Zs other than " " itself (Unicode
# 14, Python 3.11; test_normalise_fast_paths checks it against the running `unicodedata`).
_OTHER_SPACES: Final = (
    "\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"
)
_TAB_AND_SPACES: Final = "\t" + _OTHER_SPACES
# Tabs and other spaces become " ", full-width digits ASCII ones.
_SPACES_AND_DIGITS: Final = str.maketrans(
    _TAB_AND_SPACES + "０１２３４５６７８９", " " * len(_TAB_AND_SPACES) + "0123456789"
)
_SPACE_OR_DIGIT_RE: Final = re.compile(f"[{_TAB_AND_SPACES}０-９]")
# Invisible characters pasted from chat apps and web pages; they would also hide the
# CJK–CJK adjacency that the spacing rule relies on. U+200D stays: it joins emoji (👨‍👩‍👧).
_INVISIBLE: Final = (
    "\u00ad\u180e\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\ufeff"
)
# Placeholders for protected spans (URLs, e-mails) live in Supplementary Private Use Area-B,
# which is stripped from the input so that a placeholder can never collide with user text.
_PLACEHOLDER_BASE: Final = 0x100000
# Dropped: controls (Cc, fixed by Unicode's stability policy; tabs are spaces by then),
# lone surrogates (Cs), the invisible characters and Private Use Area-B.
_DROPPED_RE: Final = re.compile(
    f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}{chr(_PLACEHOLDER_BASE)}-\U0010ffff]"
)

_URL_RE: Final = re.compile(
    rf"(?:(?:https?|ftp)://|www\.)[^\s<>\"'{_HAN}{_CJK_PUNCT}{_SHARED_PUNCT}]+", re.IGNORECASE
)
_EMAIL_RE: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Sentence punctuation that ends a URL in running text rather than belonging to it.
_URL_TRAILING: Final = ".,;:!?"

# The submitter's own numbering: 1.  1、  (1)  （1）  ①  ⑴  ⒈  ❶  一、  （一）.
# `1.` followed by a digit is a decimal (3.5亿元), not numbering.
_LEADING_NUMBER_RE: Final = re.compile(
    r"^(?:"
    r"[(（]\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*[)）]"
    r"|\d{1,3}\s*[.．、)）](?!\d)"
    r"|[一二三四五六七八九十]{1,3}、"
    r"|[\u2460-\u249b\u24eb-\u24ff\u2776-\u2793]"
    r")\s*"
)

_SIMPLE_PUNCT: Final = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}
_OPEN_PARENS: Final = "(（"
_CLOSE_PARENS: Final = ")）"
_PARENS: Final = _OPEN_PARENS + _CLOSE_PARENS
_DOUBLE_QUOTES: Final = '"“”＂'
_SINGLE_QUOTES: Final = "'‘’"
# Every character `_convert_punctuation` may rewrite. Its passes visit only these positions,
# found in one scan in C, instead of walking every character in Python. No pass turns a mark
# of one kind (bracket, double quote, single quote, other) into another kind, so positions
# found up front stay valid through all passes.
_MARKS: Final = _PARENS + _DOUBLE_QUOTES + _SINGLE_QUOTES + "".join(_SIMPLE_PUNCT) + "."
_MARKS_RE: Final = re.compile(f"[{re.escape(_MARKS)}]")

_ELLIPSIS_RE: Final = re.compile(
    rf"(?<=[{_HAN}{_CJK_PUNCT}{_SHARED_PUNCT}])\.{{3,}}|\.{{3,}}(?=[{_HAN}{_CJK_PUNCT}])"
)
_DATE_RANGE_RE: Final = re.compile(
    r"(\d{1,2}月\d{1,2}日)\s*(?:——|[-–~～－〜—―])\s*((?:\d{4}年)?\d{1,2}月\d{1,2}日|\d{1,2}日)"
)
# 9月13-16日: the first day's 日 is implied by the second's.
_SHORT_DATE_RANGE_RE: Final = re.compile(
    r"(?<![\d.])(\d{1,2})月(\d{1,2})\s*(?:——|[-–~～－〜—―])\s*(\d{1,2})日"
)
# 9.13-9.16 and 2022.9.13-9.16: month.day written with dots. Plainly a date range only when
# both ends are real days in order, no digit, dot, Latin letter or % is stuck to either end
# (1.2.3-4.5, V1.2-1.3, 3.5-4.5%), and no unit or multiplier follows (3.5-4.5万元, 1.2-1.5倍):
# then it is a range of figures, left alone.
_DOTTED_DATE_RANGE_RE: Final = re.compile(
    r"(?<![\dA-Za-z.．%])(?:(\d{4})[.．])?(\d{1,2})[.．](\d{1,2})"
    r"\s*(?:——|[-–~～－〜—―])\s*"
    r"(\d{1,2})[.．](\d{1,2})(?![\dA-Za-z.．%％])"
    r"(?!\s*[万亿千百十元角分件个项次人户家台套座倍米吨克斤升度岁级类批名条所])"
)
# A document number (发文字号, GB/T 9704 §7.2.4): organ abbreviation, the year in brackets,
# the serial and 号. Whatever brackets the year was typed in, it is printed in 〔〕.
_DOCUMENT_NUMBER_RE: Final = re.compile(
    rf"(?<=[{_HAN}])\s*[\[(（【〔［〖]\s*((?:19|20)\d\d)\s*[\])）】〕］〗]\s*(第?)\s*(\d{{1,5}})\s*号"
)
_PERCENT_RE: Final = re.compile(r"(?<=\d) *[%％]")
_DOUBLED_PUNCT_RE: Final = re.compile(r"([，。；：、？！])\1+")
_SPACES_RE: Final = re.compile(" +")

_TERMINAL: Final = "。！？"
_CLOSERS: Final = "”’）》」』】〕"
# A trailing comma-like mark means the sentence was cut short; it becomes the final 。
# (appending would print doubled punctuation such as ，。).
_WEAK_ENDINGS: Final = "，；：、"

_COUNT_RE: Final = re.compile(r"\d+|\d{1,3}(?:,\d{3})+")
# A count may carry its unit and a full stop, as people write it: 7463962件, 7,463,962 件。
# 万 and the like are not units but multipliers, and stay refused (12万 is not 12).
_COUNT_SUFFIX_RE: Final = re.compile(r"\s*(?:件次|件|个|项|笔|次)?\s*[。.]?\s*\Z")


def clean_text(text: str) -> str:
    """Strip control and invisible characters and surrounding space; keep line breaks."""
    lines = _LINE_BREAK_RE.split(text)
    return "\n".join(_clean_line(line) for line in lines).strip()


def normalise_item(text: str) -> str:
    """Return a window submission as one clean paragraph per bulletin-format.md §3.

    Line breaks are joined, deliberately: the bulletin prints an item as one paragraph, and a
    break inside an item is a paste or wrap artefact. Lines meet without a space between
    Chinese text (政务服 / 务领域), with one between Latin words; empty lines vanish.
    """
    lines = (_clean_line(line) for line in _LINE_BREAK_RE.split(text))
    # A line break inside an item is a conversion or chat artefact; the spacing rule below
    # removes the joining space again where both sides are Chinese (政务服 / 务领域).
    joined = " ".join(line for line in lines if line)
    joined = _SPACES_RE.sub(" ", joined).strip()
    joined = _LEADING_NUMBER_RE.sub("", joined, count=1)
    body, protected = _protect(joined)
    body = _convert_punctuation(body)
    body = write_gongwen(body)
    body = _SPACES_RE.sub(_space_or_nothing, body).strip()
    body = _DOUBLED_PUNCT_RE.sub("\\1", body)
    body = _end_sentence(body)
    return _restore(body, protected)


def write_gongwen(text: str) -> str:
    """Write dates, document numbers and percentages as 公文 do (bulletin-format.md §3).

    Date ranges get one — (9月13日-9月16日, 9月13-16日, 9.13-9.16); a document number's year
    goes in 〔〕 (淮纪通[2025]5号 → 淮纪通〔2025〕5号); % stays half-width and touches its
    figure. Every other bracket and title mark (《》) is left as typed.
    """
    if "月" in text:  # every written-out date range has one; skips a slow scan
        text = _DATE_RANGE_RE.sub("\\1—\\2", text)
        text = _SHORT_DATE_RANGE_RE.sub("\\1月\\2日—\\3日", text)
    if "." in text or "．" in text:
        text = _DOTTED_DATE_RANGE_RE.sub(_dotted_date_range, text)
    if "号" in text:
        text = _DOCUMENT_NUMBER_RE.sub("〔\\1〕\\2\\3号", text)
    if "%" in text or "％" in text:
        text = _PERCENT_RE.sub("%", text)
    return text


def _dotted_date_range(match: re.Match[str]) -> str:
    year, start_month, start_day, end_month, end_day = match.groups()
    start = (int(start_month), int(start_day))
    end = (int(end_month), int(end_day))
    if not (_is_day(*start) and _is_day(*end) and start < end):
        return match.group(0)
    prefix = f"{year}年" if year else ""
    return f"{prefix}{start_month}月{start_day}日—{end_month}月{end_day}日"


def _is_day(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]


_DAYS_IN_MONTH: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def item_content(text: str) -> str:
    """The letters and digits of `text` (汉字 are letters), without punctuation, space or symbols.

    What makes a text an item: "。。" has none, "1。" only a number.
    """
    return "".join(char for char in text if unicodedata.category(char)[0] in "LN")


def parse_count(text: str) -> int | None:
    """Return the non-negative whole number in `text`, else None.

    Accepts 617058, 617,058, 617，058, ６１７０５８ and a unit after the number (617058件,
    617,058 件); refuses anything else (六十万, 12万, 1.5, -5, 61 7058).
    """
    candidate = text.translate(FULL_WIDTH_DIGITS).strip().replace("，", ",")
    candidate = _COUNT_SUFFIX_RE.sub("", candidate, count=1)
    if not candidate.isascii() or not _COUNT_RE.fullmatch(candidate):
        return None
    digits = candidate.replace(",", "").lstrip("0") or "0"
    if len(digits) > _MAX_COUNT_DIGITS:  # and int() refuses 4,300 digits with an error
        return None
    value = int(digits)
    return value if value <= MAX_COUNT else None


def _clean_line(line: str) -> str:
    """Drop control, surrogate and invisible characters; turn every kind of space into ' '.

    Also makes full-width digits ASCII. Most lines have nothing to translate, so the
    (per-character, dictionary-driven) translate only runs when a regex finds something.
    """
    if _SPACE_OR_DIGIT_RE.search(line):
        line = line.translate(_SPACES_AND_DIGITS)
    return _DROPPED_RE.sub("", line).strip()


def _protect(text: str) -> tuple[str, list[str]]:
    """Replace URLs and e-mail addresses by placeholders so no rule can touch them."""
    protected: list[str] = []

    def hide(span: str) -> str:
        protected.append(span)
        return chr(_PLACEHOLDER_BASE + len(protected) - 1)

    def hide_url(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and (url[-1] in _URL_TRAILING or (url[-1] == ")" and "(" not in url)):
            tail = url[-1] + tail
            url = url[:-1]
        return hide(url) + tail

    # Every URL has "://" or "www." and every address "@"; most items have neither, and the
    # patterns are slow to fail at each position.
    if "://" in text or "." in text:
        text = _URL_RE.sub(hide_url, text)
    if "@" in text:
        text = _EMAIL_RE.sub(lambda match: hide(match.group(0)), text)
    return text, protected


def _restore(text: str, protected: list[str]) -> str:
    for index, span in enumerate(protected):
        text = text.replace(chr(_PLACEHOLDER_BASE + index), span)
    return text


def _is_wide(char: str) -> bool:
    return bool(char) and _WIDE_RE.match(char) is not None


def _neighbour(chars: list[str], index: int, step: int) -> str:
    """Return the nearest non-space character before (step -1) or after (step 1) `index`."""
    index += step
    while 0 <= index < len(chars) and chars[index] == " ":
        index += step
    return chars[index] if 0 <= index < len(chars) else ""


def _touches_wide(chars: list[str], index: int) -> bool:
    return _is_wide(_neighbour(chars, index, -1)) or _is_wide(_neighbour(chars, index, 1))


def _convert_punctuation(text: str) -> str:
    """Use full-width punctuation and paired curly quotes where the text around is Chinese."""
    if "..." in text:  # the pattern's lookbehind is slow to fail at every position
        text = _ELLIPSIS_RE.sub("……", text)
    marks = [match.start() for match in _MARKS_RE.finditer(text)]
    if not marks:
        return text
    chars = list(text)
    _convert_parentheses(chars, [i for i in marks if text[i] in _PARENS])
    _pair_quotes(chars, [i for i in marks if text[i] in _DOUBLE_QUOTES], "“", "”", "＂“”")
    singles = [i for i in marks if text[i] in _SINGLE_QUOTES and not _is_apostrophe(chars, i)]
    _pair_quotes(chars, singles, "‘", "’", "‘’")
    # In text order, since a converted mark counts as Chinese for the marks after it.
    for index in marks:
        char = chars[index]
        if char in _SIMPLE_PUNCT and _touches_wide(chars, index):
            chars[index] = _SIMPLE_PUNCT[char]
        elif char == "." and _is_sentence_period(chars, index):
            chars[index] = "。"
    return "".join(chars)


def _is_sentence_period(chars: list[str], index: int) -> bool:
    """Tell a Chinese full stop typed as '.' from decimals, abbreviations and domain names."""
    before = chars[index - 1] if index > 0 else ""
    after = chars[index + 1] if index + 1 < len(chars) else ""
    return _is_wide(before) and (after in ("", " ") or _is_wide(after))


def _is_apostrophe(chars: list[str], index: int) -> bool:
    before = chars[index - 1] if index > 0 else ""
    after = chars[index + 1] if index + 1 < len(chars) else ""
    return before.isascii() and before.isalnum() and after.isascii() and after.isalpha()


def _convert_parentheses(chars: list[str], positions: list[int]) -> None:
    """Make matching brackets full-width as a pair, so （WHO） never ends as （WHO).

    `positions` are the indexes of all brackets in `chars`, in order.
    """
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for index in positions:
        char = chars[index]
        if char in _OPEN_PARENS:
            stack.append(index)
        elif char in _CLOSE_PARENS and stack:
            pairs.append((stack.pop(), index))
    paired = {i for pair in pairs for i in pair}
    for start, end in pairs:
        chinese = (
            chars[start] == "（"
            or chars[end] == "）"
            or _touches_wide(chars, start)
            or _touches_wide(chars, end)
            or _HAN_RE.search("".join(chars[start + 1 : end])) is not None
        )
        if chinese:
            chars[start], chars[end] = "（", "）"
    for index in positions:
        char = chars[index]
        if index not in paired and char in "()" and _touches_wide(chars, index):
            chars[index] = "（" if char == "(" else "）"


def _pair_quotes(
    chars: list[str], positions: list[int], opening: str, closing: str, chinese_forms: str
) -> None:
    """Rewrite quotes two by two as opening/closing pairs when they quote Chinese text."""
    for first, second in zip(positions[::2], positions[1::2], strict=False):
        chinese = (
            chars[first] in chinese_forms
            or chars[second] in chinese_forms
            or _touches_wide(chars, first)
            or _touches_wide(chars, second)
            or _HAN_RE.search("".join(chars[first + 1 : second])) is not None
        )
        if chinese:
            chars[first], chars[second] = opening, closing
    if len(positions) % 2 == 1:
        last = positions[-1]
        if chars[last] not in chinese_forms and _touches_wide(chars, last):
            after = chars[last + 1] if last + 1 < len(chars) else ""
            is_opening = after not in ("", " ") and _CJK_PUNCT_RE.match(after) is None
            chars[last] = opening if is_opening else closing


def _is_number_char(char: str) -> bool:
    return char.isascii() and (char.isdigit() or char == "%")


def _space_or_nothing(match: re.Match[str]) -> str:
    """Drop a run of spaces between Chinese text and Chinese text or digits (§3 rule 4)."""
    text = match.string
    before = text[match.start() - 1] if match.start() > 0 else ""
    after = text[match.end()] if match.end() < len(text) else ""
    if _CJK_PUNCT_RE.match(before) or _CJK_PUNCT_RE.match(after):
        return ""
    if _is_wide(before) and (_is_wide(after) or _is_number_char(after)):
        return ""
    if _is_number_char(before) and _is_wide(after):
        return ""
    return match.group(0)


def _end_sentence(text: str) -> str:
    """Make the item end with 。 unless it already ends a sentence (§3 rule 7)."""
    if not text:
        return text
    if text[-1] in _WEAK_ENDINGS:
        return text[:-1] + "。"
    core = text.rstrip(_CLOSERS)
    if core and core[-1] in _TERMINAL:
        return text
    return text + "。"
