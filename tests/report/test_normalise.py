"""Normalisation of window submissions (bulletin-format.md §3) and figure parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from report.normalise import (
    FULL_WIDTH_DIGITS,
    clean_text,
    item_content,
    normalise_item,
    parse_count,
)


def test_half_width_punctuation_becomes_full_width_when_adjacent_to_chinese() -> None:
    assert normalise_item("近日,窗口受理;办结:完成?好!") == "近日，窗口受理；办结：完成？好！"


def test_parentheses_become_full_width_as_a_pair_when_they_enclose_latin_after_chinese() -> None:
    assert normalise_item("世界卫生组织(WHO)指出") == "世界卫生组织（WHO）指出。"


def test_straight_double_quotes_become_paired_curly_quotes_when_quoting_chinese() -> None:
    assert normalise_item('推进"一网通办"和"川渝通办"') == "推进“一网通办”和“川渝通办”。"


def test_curly_quotes_are_repaired_when_the_closing_quote_was_typed_as_an_opening_one() -> None:
    assert normalise_item("实现“一次验证、全网通用“") == "实现“一次验证、全网通用”。"


def test_straight_single_quotes_become_paired_curly_quotes_when_quoting_chinese() -> None:
    assert normalise_item("所谓'双百'项目") == "所谓‘双百’项目。"


def test_apostrophe_is_kept_when_inside_a_latin_word() -> None:
    assert normalise_item("Xi'an的窗口") == "Xi'an的窗口。"


def test_punctuation_is_kept_half_width_when_between_latin_or_digits() -> None:
    assert normalise_item("Li Ming, John Smith (ISO 9001:2015)") == (
        "Li Ming, John Smith (ISO 9001:2015)。"
    )


def test_full_width_digits_become_ascii_when_present() -> None:
    assert normalise_item("受理６１７０５８件") == "受理617058件。"


def test_thousands_separators_are_left_alone_when_present() -> None:
    assert normalise_item("共1,000件") == "共1,000件。"


def test_spaces_are_removed_when_between_chinese_and_digits() -> None:
    assert normalise_item("业务共计 4082 件，加快回复 12345 咨询件") == (
        "业务共计4082件，加快回复12345咨询件。"
    )


def test_spaces_are_removed_when_between_chinese_characters() -> None:
    assert normalise_item("省 卫健委　窗口") == "省卫健委窗口。"


def test_spaces_are_kept_when_inside_latin_runs() -> None:
    assert normalise_item("联合 World Health Organization 开展") == (
        "联合 World Health Organization 开展。"
    )


@pytest.mark.parametrize("dash", ["-", "–", "~", "——", " - ", "—"])
def test_date_range_gets_a_single_em_dash_when_written_with(dash: str) -> None:
    assert normalise_item(f"9月13日{dash}9月16日开展") == "9月13日—9月16日开展。"


def test_date_range_with_zhi_is_left_alone_when_present() -> None:
    assert normalise_item("9月13日至9月16日开展") == "9月13日至9月16日开展。"


def test_hyphen_is_kept_when_not_between_dates() -> None:
    assert normalise_item("COVID-19防控") == "COVID-19防控。"


@pytest.mark.parametrize(("doubled", "single"), [("，，", "，"), ("。。", "。"), ("、、", "、")])
def test_doubled_punctuation_collapses_when_repeated(doubled: str, single: str) -> None:
    assert normalise_item(f"受理{doubled}办结。") == f"受理{single}办结。"


def test_ellipsis_is_kept_when_doubled() -> None:
    assert normalise_item("审批、备案……等事项。") == "审批、备案……等事项。"


def test_final_full_stop_is_appended_when_missing() -> None:
    assert normalise_item("受到企业好评") == "受到企业好评。"


@pytest.mark.parametrize("ending", ["好评。", "好评！", "好评？", "送了一场“及时雨。”"])
def test_final_full_stop_is_not_added_when_the_item_already_ends_a_sentence(ending: str) -> None:
    assert normalise_item(ending) == ending


def test_final_full_stop_follows_the_closing_quote_when_the_quote_ends_the_item() -> None:
    assert normalise_item("送了一场“及时雨”") == "送了一场“及时雨”。"


def test_trailing_comma_becomes_the_final_full_stop_when_the_item_ends_with_one() -> None:
    assert normalise_item("解答企业咨询，") == "解答企业咨询。"


@pytest.mark.parametrize("numbering", ["1.", "1、", "(1)", "(2) ", "（1）", "①", "1. ", "一、"])
def test_submitters_numbering_is_stripped_when_it_leads_the_item(numbering: str) -> None:
    assert normalise_item(f"{numbering}近日，窗口开展培训。") == "近日，窗口开展培训。"


def test_leading_decimal_is_kept_when_it_looks_like_numbering() -> None:
    assert normalise_item("3.5亿元项目落地。") == "3.5亿元项目落地。"


def test_lines_are_joined_into_one_paragraph_when_a_word_is_split() -> None:
    assert normalise_item("推动在政务服\n\n务领域应用") == "推动在政务服务领域应用。"


def test_lines_are_joined_with_a_space_when_latin_words_meet() -> None:
    assert normalise_item("World Health\nOrganization来访") == "World Health Organization来访。"


@pytest.mark.parametrize(
    ("pasted", "printed"),
    [
        ("延时服务期间共办理\n7463962件业务。", "延时服务期间共办理7463962件业务。"),
        ("第一段。\n\n第二段。", "第一段。第二段。"),
        ("窗口开展培训，\r\n提升服务水平", "窗口开展培训，提升服务水平。"),
        ("办理业务\u2028100件", "办理业务100件。"),
    ],
)
def test_an_item_pasted_with_line_breaks_prints_as_one_paragraph(pasted: str, printed: str) -> None:
    # Deliberate: the bulletin prints an item as one paragraph, and a break inside an item
    # is a wrap or paste artefact; the text is stored with its breaks, as written.
    assert normalise_item(pasted) == printed


def test_control_characters_are_removed_when_present() -> None:
    assert normalise_item("受理\x00办结\x07\u200b完成\ufeff") == "受理办结完成。"


def test_lone_surrogate_is_removed_when_present() -> None:
    assert normalise_item("受理\ud800办结。") == "受理办结。"


def test_url_is_unchanged_when_it_contains_punctuation() -> None:
    url = "https://www.sc.gov.cn/a_b/c?x=1,2&y=(3)"
    assert normalise_item(f"详见{url} 。") == f"详见{url}。"


def test_url_trailing_comma_is_converted_when_chinese_follows() -> None:
    assert normalise_item("详见https://zwfw.sc.gov.cn,欢迎访问") == (
        "详见https://zwfw.sc.gov.cn，欢迎访问。"
    )


def test_email_address_is_unchanged_when_adjacent_to_chinese() -> None:
    assert normalise_item("联系邮箱:service_hall@sc.gov.cn") == "联系邮箱：service_hall@sc.gov.cn。"


@pytest.mark.parametrize(
    "text",
    [
        "增长12.5%，投资3.5亿元。",
        "加快回复12345咨询件。",
        "开展“互联网+医疗健康”论坛。",
        "依据川办发〔2022〕12号文件。",
        "其它九类行权事项。",
        "省市县三级商务主管部门。",
        "联合筹备首届竞赛。",
        "实现“一次验证、全网通用”。",
        "省卫健委和住建厅窗口。",
        "纳入《四川省电子营业执照应用首批事项清单》。",
    ],
)
def test_text_is_unchanged_when_already_clean(text: str) -> None:
    assert normalise_item(text) == text


def test_reference_quirks_are_removed_when_present() -> None:
    raw = "(3) 住建厅窗口居家不停工，受理业务共计 4082 件。"
    assert normalise_item(raw) == "住建厅窗口居家不停工，受理业务共计4082件。"


def test_empty_text_stays_empty_when_only_whitespace_is_submitted() -> None:
    assert normalise_item(" \n\t\u3000") == ""


def test_clean_text_keeps_line_breaks_when_stripping_control_characters() -> None:
    assert clean_text(" 全体居家\x00办公，\n大厅关闭。 ") == "全体居家办公，\n大厅关闭。"


@pytest.mark.parametrize(
    ("text", "count"),
    [("617058", 617058), ("617,058", 617058), ("19，691，982", 19691982), ("６１７０５８", 617058)],
)
def test_count_is_parsed_when_written_with_digits(text: str, count: int) -> None:
    assert parse_count(text) == count


def test_count_is_parsed_when_surrounded_by_spaces() -> None:
    assert parse_count(" 49602\u3000") == 49602


def test_count_is_zero_when_zero_is_typed() -> None:
    assert parse_count("0") == 0


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("7463962件", 7463962),
        ("7,463,962 件", 7463962),
        ("７４６３９６２件", 7463962),
        ("7463962 件。", 7463962),
        ("617058件次", 617058),
        ("49602个", 49602),
    ],
)
def test_count_is_parsed_when_written_with_its_unit(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize(
    "text",
    [
        *("", "  ", "六万", "abc", "-5", "+5", "12.5", "1,2,3", "61 7058"),
        *("12万", "12万件", "件", "5件件"),
    ],
)
def test_count_is_none_when_not_a_whole_non_negative_number(text: str) -> None:
    assert parse_count(text) is None


@pytest.mark.parametrize("text", ["1" * 5000, "9" * 20, "9,999,999,999,999,999,999,999"])
def test_count_is_none_when_too_large_to_store_even_past_the_int_parsing_limit(text: str) -> None:
    assert parse_count(text) is None


def test_count_is_parsed_when_padded_with_thousands_of_zeros() -> None:
    assert parse_count("0" * 5000 + "617058") == 617058


def test_item_content_is_the_letters_and_digits_without_punctuation_or_symbols() -> None:
    assert item_content("1、推行“一窗通办”，压缩 30%！😀") == "1推行一窗通办压缩30"
    assert item_content("。。……？！") == ""


# --- 公文 writing: document numbers, date ranges, titles, ordinals, spacing, percentages -----


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("按照淮纪通[2025]5号文件要求", "按照淮纪通〔2025〕5号文件要求。"),
        ("根据川府发（2023）12号精神", "根据川府发〔2023〕12号精神。"),
        ("根据川府发(2023)12号精神", "根据川府发〔2023〕12号精神。"),
        ("转发国办发〔2022〕3号文件", "转发国办发〔2022〕3号文件。"),
        ("落实湘政发【2012】33号", "落实湘政发〔2012〕33号。"),
        ("执行川办发［2021］8号", "执行川办发〔2021〕8号。"),
        ("依据川办函 [2022] 55 号", "依据川办函〔2022〕55号。"),
        ("依据川卫办发〔2022〕第6号", "依据川卫办发〔2022〕第6号。"),
        # Leading zeros are the serial as typed: never add or drop a digit.
        ("依据川办发[2022]05号", "依据川办发〔2022〕05号。"),
        # Unrecoverable: a missing closing bracket is left as typed.
        ("依据川府发〔201711号", "依据川府发〔201711号。"),
    ],
)
def test_document_number_year_goes_in_hexagonal_brackets_when_typed(
    typed: str, printed: str
) -> None:
    assert normalise_item(typed) == printed


@pytest.mark.parametrize(
    "text",
    [
        "开展[专项]检查。",  # not a year
        "共计（2023）件。",  # 件, not 号
        "于（2023）年完成。",  # a year in brackets, but no serial and 号
        "办件编号[2023]。",  # no serial
        "在【2023】12345热线中。",  # a hotline, not 号
        "省卫健委（省中医药局）窗口。",  # an ordinary bracket
        "完成率（95%）。",
    ],
)
def test_other_brackets_are_left_as_typed_when_not_a_document_number(text: str) -> None:
    assert normalise_item(text) == text


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("9月13日-9月16日开展", "9月13日—9月16日开展。"),
        ("9月13-16日开展", "9月13日—16日开展。"),
        ("于9.13-9.16开展集中办理", "于9月13日—9月16日开展集中办理。"),
        ("于9.13～9.16开展", "于9月13日—9月16日开展。"),
        ("2022.9.13-9.16期间", "2022年9月13日—9月16日期间。"),
        ("于12.1-12.31开展", "于12月1日—12月31日开展。"),
    ],
)
def test_date_range_is_written_with_month_day_and_an_em_dash_when_plainly_a_range(
    typed: str, printed: str
) -> None:
    assert normalise_item(typed) == printed


@pytest.mark.parametrize(
    "text",
    [
        "投资3.5-4.5亿元。",  # figures with a multiplier
        "增长1.2-1.5倍。",
        "增长3.5-4.5%。",
        "升级V1.2-1.3版本。",
        "按照1.2.3-4.5条执行。",
        "于9.16-9.13开展。",  # backwards: not a range of days
        "于2.30-3.1开展。",  # 2月30日 does not exist
        "COVID-19防控。",
    ],
)
def test_dotted_figures_are_left_as_typed_when_not_plainly_a_date_range(text: str) -> None:
    assert normalise_item(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "纳入《四川省电子营业执照应用首批事项清单》。",
        "印发《关于做好2022年“一网通办”工作的通知》。",
        "学习《中华人民共和国行政许可法》《优化营商环境条例》。",
    ],
)
def test_title_marks_are_left_as_typed_when_present(text: str) -> None:
    assert normalise_item(text) == text


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("举办第 3 次培训", "举办第3次培训。"),
        ("第３批名单", "第3批名单。"),
        ("首届和第二届竞赛", "首届和第二届竞赛。"),
        ("2022年第31期", "2022年第31期。"),
    ],
)
def test_ordinals_keep_their_numeral_and_lose_spaces_when_typed(typed: str, printed: str) -> None:
    assert normalise_item(typed) == printed


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("共计 4082 件", "共计4082件。"),
        ("在 3 个工作日内", "在3个工作日内。"),
        ("2022 年 9 月 16 日", "2022年9月16日。"),
        ("增长 12.5 %", "增长12.5%。"),
        ("增长12.5％", "增长12.5%。"),
        ("增长12.5%，投资3.5亿元", "增长12.5%，投资3.5亿元。"),
    ],
)
def test_spaces_go_and_percent_stays_half_width_when_figures_are_typed(
    typed: str, printed: str
) -> None:
    assert normalise_item(typed) == printed


# --- Property: only punctuation and spaces change --------------------------------------------

# What the rules react to: Chinese, Latin, digits of both widths, every bracket a document
# number may be typed in, dashes, dots, %, title marks, quotes, spaces and line breaks.
_ALPHABET = st.sampled_from(
    [
        *"省卫健委窗口办理受理第号年月日期件次万亿元",
        *"aZx",
        *"0123456789０１２３",
        *"[]()（）【】〔〕［］《》“”\"'",
        *",.;:?!，。；：？！、-–~～—%％+",
        *" \u3000\n",
    ]
)
_PROTECTED_WORDS = ("淮纪通", "川府发", "国办发", "省卫健委", "住建厅", "World Health")
_WRITTEN_DATE = "年月日"  # 9.13 may become 9月13日: these may be added, never removed


def _letters_and_digits(text: str) -> str:
    """Letters and digits of `text` in order, the digits ASCII, without 年月日."""
    kept = item_content(text.translate(FULL_WIDTH_DIGITS))
    return "".join(char for char in kept if char not in _WRITTEN_DATE)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, st.sampled_from(_PROTECTED_WORDS)), max_size=40).map("".join))
def test_normaliser_never_changes_a_digit_a_name_or_the_order_when_given_any_text(
    body: str,
) -> None:
    # 据 first: the submitter's own numbering (1. 一、) is stripped only at the start.
    text = "据" + body
    printed = normalise_item(text)
    assert _letters_and_digits(printed) == _letters_and_digits(text)
    # A name survives whole (a space may only go where Chinese meets Chinese or a digit).
    compact = printed.replace(" ", "")
    for word in _PROTECTED_WORDS:
        assert compact.count(word.replace(" ", "")) >= text.count(word)
