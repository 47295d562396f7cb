"""Compiling the reference issue and the numbering rules (bulletin-format.md §1–2)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

import pytest
from docx import Document

from report import messages
from report.bulletin import DraftCriterion, Figures, ItemEntry, NumberedItem
from report.compile import compile_draft
from report.errors import (
    DraftError,
    MissingFiguresError,
    NoItemsError,
    UnknownSubsectionError,
)
from report.render_docx import render_docx
from report.render_markdown import render_markdown
from tests.report.reference_issue import (
    EXPECTED_BUSINESS_ENVIRONMENT_ITEMS,
    EXPECTED_SERVICE_EFFICIENCY_ITEMS,
    INSPECTION_INTRO,
    PREVENTION_VERDICT,
    STATISTICS_SENTENCE,
    reference,
    reference_issue,
    reference_template,
)


def test_header_lines_match_the_reference_when_compiling_the_reference_issue() -> None:
    draft = compile_draft(*reference())
    assert (
        draft.title,
        draft.issue_line,
        draft.organisation,
        draft.date_line,
        draft.column_title,
        draft.period_line,
    ) == (
        "窗口工作周报",
        "2022年第31期（总第406期）",
        "四川省政府政务服务和公共资源交易服务中心",
        "2022年10月21日",
        "政务服务工作",
        "（9月13日—9月16日）",
    )


def test_section_headings_are_numbered_when_compiling_the_reference_issue() -> None:
    draft = compile_draft(*reference())
    assert (draft.statistics_heading, draft.news_heading, draft.inspection_heading) == (
        "一、省级政务服务事项受理办理情况",
        "二、窗口工作动态",
        "三、大厅巡查情况",
    )


def test_statistics_sentence_matches_the_reference_byte_for_byte_when_compiled() -> None:
    assert compile_draft(*reference()).statistics_sentence == STATISTICS_SENTENCE


def test_statistics_run_from_new_year_of_the_period_end_when_the_issue_is_dated_next_year() -> None:
    issue = replace(
        reference_issue(),
        issue_date=date(2023, 1, 6),
        period_start=date(2022, 12, 26),
        period_end=date(2022, 12, 30),
    )
    sentence = compile_draft(reference_template(), issue).statistics_sentence
    assert sentence.startswith("据四川一体化政务服务平台数据统计，2022年1月1日至2022年12月30日，")


def test_items_are_normalised_and_numbered_per_subsection_when_compiling_the_reference() -> None:
    draft = compile_draft(*reference())
    assert [(s.numeral, s.title, s.items) for s in draft.subsections] == [
        (
            "一",
            "优化营商环境工作开展情况",
            tuple(
                NumberedItem(n, text)
                for n, text in enumerate(EXPECTED_BUSINESS_ENVIRONMENT_ITEMS, start=1)
            ),
        ),
        (
            "二",
            "窗口服务效能提升工作情况",
            tuple(
                NumberedItem(n, text)
                for n, text in enumerate(EXPECTED_SERVICE_EFFICIENCY_ITEMS, start=1)
            ),
        ),
    ]


def test_criteria_take_the_default_verdict_when_the_issue_gives_none() -> None:
    draft = compile_draft(*reference())
    assert draft.criteria == (
        DraftCriterion("一", "按时到岗情况。", messages.DEFAULT_VERDICT),
        DraftCriterion("二", "工作区域标准化执行情况。", messages.DEFAULT_VERDICT),
        DraftCriterion("三", "着装情况。", messages.DEFAULT_VERDICT),
        DraftCriterion("四", "工作牌佩戴情况。", messages.DEFAULT_VERDICT),
        DraftCriterion("五", "纪律秩序。", messages.DEFAULT_VERDICT),
        DraftCriterion("六", "大厅防控情况。", PREVENTION_VERDICT),
    )


def test_blank_verdict_falls_back_to_the_default_when_the_editor_clears_it() -> None:
    issue = replace(reference_issue(), verdicts={"prevention": " \n "})
    assert compile_draft(reference_template(), issue).criteria[5].result == "总体情况良好。"


def test_inspection_intro_and_distribution_are_verbatim_when_compiled() -> None:
    draft = compile_draft(*reference())
    assert (draft.inspection_intro, draft.distribution, draft.print_count) == (
        INSPECTION_INTRO,
        (
            "报：中心领导。",
            "送：各相关省级部门（单位），中心各处（室）、直属单位。",
            "发：各部门窗口。",
        ),
        "（共印 80 份）",
    )


def test_empty_subsection_is_dropped_and_the_rest_renumbered_when_it_has_no_items() -> None:
    issue = reference_issue()
    only_efficiency = tuple(i for i in issue.items if i.subsection_key == "service_efficiency")
    draft = compile_draft(reference_template(), replace(issue, items=only_efficiency))
    assert [(s.numeral, s.title, len(s.items)) for s in draft.subsections] == [
        ("一", "窗口服务效能提升工作情况", 4)
    ]


def test_items_follow_template_order_when_submitted_out_of_order() -> None:
    issue = replace(
        reference_issue(),
        items=(
            ItemEntry("service_efficiency", "住建厅", "效能"),
            ItemEntry("business_environment", "商务厅", "营商"),
        ),
    )
    draft = compile_draft(reference_template(), issue)
    assert [(s.title, s.items) for s in draft.subsections] == [
        ("优化营商环境工作开展情况", (NumberedItem(1, "营商。"),)),
        ("窗口服务效能提升工作情况", (NumberedItem(1, "效能。"),)),
    ]


def test_blank_item_is_skipped_when_it_normalises_to_nothing() -> None:
    issue = replace(
        reference_issue(),
        items=(
            ItemEntry("business_environment", "商务厅", " \n "),
            ItemEntry("business_environment", "住建厅", "受理完成"),
        ),
    )
    draft = compile_draft(reference_template(), issue)
    assert draft.subsections[0].items == (NumberedItem(1, "受理完成。"),)


def test_draft_error_with_chinese_message_is_raised_when_there_are_no_items() -> None:
    issue = replace(reference_issue(), items=())
    with pytest.raises(NoItemsError) as raised:
        compile_draft(reference_template(), issue)
    assert raised.value.user_message == messages.NO_ITEMS


def test_draft_error_is_raised_when_every_item_is_blank() -> None:
    issue = replace(reference_issue(), items=(ItemEntry("business_environment", "商务厅", "  "),))
    with pytest.raises(NoItemsError):
        compile_draft(reference_template(), issue)


def test_draft_error_names_the_category_when_its_figures_are_missing() -> None:
    issue = replace(
        reference_issue(), statistics={"permit": Figures(617058, 611244), "other": Figures(1, 2)}
    )
    with pytest.raises(MissingFiguresError) as raised:
        compile_draft(reference_template(), issue)
    assert (raised.value.missing, raised.value.user_message) == (
        ("public",),
        messages.MISSING_FIGURES.format(labels="公共服务事项"),
    )


def test_draft_error_is_raised_when_an_item_has_an_unknown_subsection() -> None:
    issue = replace(reference_issue(), items=(ItemEntry("sports", "体育局", "运动会"),))
    with pytest.raises(UnknownSubsectionError) as raised:
        compile_draft(reference_template(), issue)
    assert raised.value.keys == ("sports",)


def test_draft_error_is_raised_when_the_sentence_template_has_an_unknown_placeholder() -> None:
    template = replace(
        reference_template(), statistics_sentence="截至{cum_end}，受理{tax_accepted}件。"
    )
    with pytest.raises(DraftError) as raised:
        compile_draft(template, reference_issue())
    assert raised.value.user_message == messages.BAD_STATISTICS_SENTENCE


def test_completed_may_exceed_accepted_when_the_data_says_so() -> None:
    draft = compile_draft(*reference())
    assert "其它九类行权事项受理49602件，累计办结50398件。" in draft.statistics_sentence


def test_document_numbers_print_their_year_in_hexagonal_brackets_when_compiled_and_rendered() -> (
    None
):
    typed = (
        "按照淮纪通[2025]5号要求，落实川府发（2023）12号和国办发〔2022〕3号，"
        "于9.13-9.16开展专项督查"
    )
    template, issue = reference()
    issue = replace(issue, items=(*issue.items, ItemEntry("service_efficiency", "住建厅", typed)))
    draft = compile_draft(template, issue)
    stream = io.BytesIO()
    render_docx(draft, stream)
    docx_text = "\n".join(p.text for p in Document(io.BytesIO(stream.getvalue())).paragraphs)
    printed = (
        "（5）按照淮纪通〔2025〕5号要求，落实川府发〔2023〕12号和国办发〔2022〕3号，"
        "于9月13日—9月16日开展专项督查。"
    )
    assert printed in render_markdown(draft).splitlines()
    assert printed in docx_text.splitlines()
