"""Fixed Chinese text of the bulletin (kind F in bulletin-format.md) and editor-facing messages.

Every string here is printed or shown byte-exact; wording changes belong in this file only.
"""

from __future__ import annotations

from typing import Final

# Section 一、二、三 headings: numeral + 、 + title (bulletin-format.md §2).
SECTION_MARK: Final = "、"
# Brackets of subsection numbers （一） and item numbers （1）; full-width, no space after.
OPEN_BRACKET: Final = "（"
CLOSE_BRACKET: Final = "）"
# Joins a distribution recipient to its names: 报：中心领导。
DISTRIBUTION_COLON: Final = "："

ISSUE_LINE: Final = "{year}年第{number}期（总第{total}期）"
DATE: Final = "{year}年{month}月{day}日"
MONTH_DAY: Final = "{month}月{day}日"
PERIOD: Final = "（{start}—{end}）"  # U+2014, no spaces
MOMENT: Final = "{month}月{day}日（{weekday}）{hour:02d}:{minute:02d}"  # a deadline, an opening
MOMENT_WITH_YEAR: Final = "{year}年" + MOMENT  # one in another year than today's
WEEKDAYS: Final = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
PRINT_COUNT: Final = "（共印 {copies} 份）"  # the spaces are in the reference

STATISTICS_HEADING: Final = "省级政务服务事项受理办理情况"
NEWS_HEADING: Final = "窗口工作动态"
INSPECTION_HEADING: Final = "大厅巡查情况"
DEFAULT_VERDICT: Final = "总体情况良好。"

# Reproduces the reference sentence byte-exact, including its quirks (§6.2): ； before 公共服务
# but ， before 其它, 其它 not 其他, and 累计 on the third clause only.
STATISTICS_SENTENCE: Final = (
    "据四川一体化政务服务平台数据统计，{cum_start}至{cum_end}，"
    "省本级行政许可事项受理{permit_accepted}件，办结{permit_completed}件；"
    "公共服务事项受理{public_accepted}件，办结{public_completed}件，"
    "其它九类行权事项受理{other_accepted}件，累计办结{other_completed}件。"
)

_DIGITS: Final = "零一二三四五六七八九"

# Messages for the editor when a draft cannot be compiled (DraftError.user_message).
NO_ITEMS: Final = "本期还没有任何窗口动态，无法生成草稿。"
RENDER_FAILED: Final = (
    "草稿中有无法写入 Word 文件的字符，无法生成草稿。"
    "请相关窗口在“查看/修改已交动态”中改正后重新生成，或联系管理员。"
)
MISSING_FIGURES: Final = "还缺少以下统计数据：{labels}。请先录入后再生成草稿。"
UNKNOWN_SUBSECTION: Final = "有动态归入了周报中不存在的栏目，请检查后再生成草稿。"
BAD_STATISTICS_SENTENCE: Final = "周报模板中的统计语句有误，请联系管理员。"
LABEL_SEPARATOR: Final = "、"


def chinese_numeral(n: int) -> str:
    """Return `n` (1–99) in Chinese numerals: 1 → 一, 10 → 十, 12 → 十二, 21 → 二十一."""
    if not 1 <= n <= 99:
        raise ValueError(f"cannot write {n} as a section numeral (1-99 supported)")
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + ("" if units == 0 else _DIGITS[units])


def section_heading(numeral: str, title: str) -> str:
    """Return a section heading such as 一、省级政务服务事项受理办理情况."""
    return f"{numeral}{SECTION_MARK}{title}"


def bracketed(label: str) -> str:
    """Return `label` in full-width brackets: （一）, （1）."""
    return f"{OPEN_BRACKET}{label}{CLOSE_BRACKET}"


def distribution_line(recipient: str, names: str) -> str:
    """Return a 版记 line such as 报：中心领导。."""
    return f"{recipient}{DISTRIBUTION_COLON}{names}"
