"""The fast paths of report.normalise give exactly what the per-character originals gave.

`normalise_item` once walked every character in Python (`unicodedata.category` per character,
then several passes over a list of characters); it now lets regexes and `str.translate` find
the few characters that need work. The originals are kept below, verbatim apart from their
names, as the reference: the fast code must agree with them on every code point and on many
generated submissions mixing everything the rules react to.
"""

from __future__ import annotations

import random
import re
import sys
import unicodedata

import pytest

from report.normalise import (
    _CLOSE_PARENS,
    _DOUBLE_QUOTES,
    _DOUBLED_PUNCT_RE,
    _ELLIPSIS_RE,
    _EMAIL_RE,
    _HAN_RE,
    _INVISIBLE,
    _LEADING_NUMBER_RE,
    _LINE_BREAK_RE,
    _OPEN_PARENS,
    _OTHER_SPACES,
    _PLACEHOLDER_BASE,
    _SIMPLE_PUNCT,
    _SINGLE_QUOTES,
    _SPACES_RE,
    _URL_RE,
    _URL_TRAILING,
    FULL_WIDTH_DIGITS,
    _clean_line,
    _convert_punctuation,
    _end_sentence,
    _is_apostrophe,
    _is_sentence_period,
    _pair_quotes,
    _protect,
    _restore,
    _space_or_nothing,
    _touches_wide,
    clean_text,
    normalise_item,
    write_gongwen,
)

# --- The reference: the implementation before the fast paths ---------------------------------


def reference_normalise_item(text: str) -> str:
    lines = (reference_clean_line(line) for line in _LINE_BREAK_RE.split(text))
    joined = " ".join(line for line in lines if line)
    joined = _SPACES_RE.sub(" ", joined).strip()
    joined = _LEADING_NUMBER_RE.sub("", joined, count=1)
    body, protected = reference_protect(joined)
    body = reference_convert_punctuation(body)
    body = write_gongwen(body)
    body = _SPACES_RE.sub(_space_or_nothing, body).strip()
    body = _DOUBLED_PUNCT_RE.sub("\\1", body)
    body = _end_sentence(body)
    return _restore(body, protected)


def reference_clean_text(text: str) -> str:
    lines = _LINE_BREAK_RE.split(text)
    return "\n".join(reference_clean_line(line) for line in lines).strip()


def reference_clean_line(line: str) -> str:
    kept: list[str] = []
    for char in line.translate(FULL_WIDTH_DIGITS):
        category = unicodedata.category(char)
        if char == "\t" or category == "Zs":
            kept.append(" ")
        elif category in ("Cc", "Cs") or char in _INVISIBLE or ord(char) >= _PLACEHOLDER_BASE:
            continue
        else:
            kept.append(char)
    return "".join(kept).strip()


def reference_protect(text: str) -> tuple[str, list[str]]:
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

    text = _URL_RE.sub(hide_url, text)
    text = _EMAIL_RE.sub(lambda match: hide(match.group(0)), text)
    return text, protected


def reference_convert_punctuation(text: str) -> str:
    text = _ELLIPSIS_RE.sub("……", text)
    chars = list(text)
    reference_convert_parentheses(chars)
    _pair_quotes(chars, [i for i, c in enumerate(chars) if c in _DOUBLE_QUOTES], "“", "”", "＂“”")
    singles = [
        i for i, c in enumerate(chars) if c in _SINGLE_QUOTES and not _is_apostrophe(chars, i)
    ]
    _pair_quotes(chars, singles, "‘", "’", "‘’")
    for index, char in enumerate(chars):
        if char in _SIMPLE_PUNCT and _touches_wide(chars, index):
            chars[index] = _SIMPLE_PUNCT[char]
        elif char == "." and _is_sentence_period(chars, index):
            chars[index] = "。"
    return "".join(chars)


def reference_convert_parentheses(chars: list[str]) -> None:
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for index, char in enumerate(chars):
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
    for index, char in enumerate(chars):
        if index not in paired and char in "()" and _touches_wide(chars, index):
            chars[index] = "（" if char == "(" else "）"


# --- Generated submissions -----------------------------------------------------------------

# Pieces a submission is made of: Chinese text, Latin words, digits of both widths, every
# kind of punctuation the rules convert or keep, spaces, line breaks, control, invisible and
# surrogate characters, private-use characters, emoji, numbering, dates, URLs and e-mails.
_PIECES = (
    *"中国政务服务窗口受理办结年月日号类件三级",
    "𠀀",  # an ideograph outside the BMP
    *"aZxk",
    "Xi",
    "an",
    "ISO",
    "World Health",
    *"0123456789",
    *"０１２３４５６７８９",
    "12.5%",
    "3.5",
    "9001:2015",
    *",;:?!.",
    "...",
    "....",
    "..",
    *"()（）",
    *"\"'“”‘’＂",
    *"，。；：？！、…—·《》〔〕「」【】+-–~～―%/&",
    "……",
    "——",
    *" \t\u00a0\u1680\u2002\u200a\u202f\u205f\u3000",
    "   ",
    *"\n\r\v\f\x1c\x85\u2028\u2029",
    "\r\n",
    *"\x00\x07\x08\x1b\x1f\x7f\x80\x9f",
    *"\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2060\u2064\ufeff",
    "\ud800",
    "\udfff",
    "\ue000",  # BMP private use: kept
    "\U000f0000",  # plane 15 private use: kept
    "\U00100000",  # plane 16 private use: dropped, it holds the placeholders
    "\U0010fffd",
    "👨\u200d👩\u200d👧",
    "1.",
    "1、",
    "(1)",
    "（1）",
    "(2) ",
    "①",
    "⑴",
    "❶",
    "一、",
    "（一）",
    "9月13日",
    "9月16日",
    "2022年9月16日",
    "16日",
    "9月13日-9月16日",
    "9月13日 —— 16日",
    "9月13日～2022年9月16日",
    "至",
    "https://www.sc.gov.cn/a_b/c?x=1,2&y=(3)",
    "http://zwfw.sc.gov.cn",
    "HTTPS://A.B",
    "www.sc.gov.cn",
    "WWW.x.cn",
    "ftp://files",
    "service_hall@sc.gov.cn",
    "a@b",
    "@",
    "://",
)


def _submissions(seed: int, count: int, max_pieces: int) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, max_pieces)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(4))
def test_normalise_item_agrees_with_the_reference_when_given_generated_submissions(
    seed: int,
) -> None:
    for text in _submissions(seed, 2_500, 40):
        assert normalise_item(text) == reference_normalise_item(text), repr(text)


def test_clean_text_agrees_with_the_reference_when_given_generated_submissions() -> None:
    for text in _submissions(100, 2_500, 30):
        assert clean_text(text) == reference_clean_text(text), repr(text)


def test_convert_punctuation_agrees_with_the_reference_when_given_raw_text() -> None:
    # Unlike inside normalise_item, the text may start or end with spaces or hold controls.
    for text in _submissions(200, 5_000, 30):
        assert _convert_punctuation(text) == reference_convert_punctuation(text), repr(text)


def test_protect_agrees_with_the_reference_when_given_generated_submissions() -> None:
    for text in _submissions(300, 2_500, 30):
        assert _protect(text) == reference_protect(text), repr(text)


def test_clean_line_agrees_with_the_reference_on_every_code_point() -> None:
    # Characters are cleaned one by one, so long runs of consecutive code points check them
    # all at once; the letters around each run keep strip() from hiding a difference.
    step = 4_096
    for start in range(0, sys.maxunicode + 1, step):
        run = "".join(map(chr, range(start, min(start + step, sys.maxunicode + 1))))
        line = f"a{run}b"
        assert _clean_line(line) == reference_clean_line(line), hex(start)


def test_other_spaces_are_all_space_separators_but_the_space_when_checked() -> None:
    separators = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"}
    assert set(_OTHER_SPACES) == separators - {" "}
