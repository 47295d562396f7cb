"""Turn a template and one issue's content into a Draft: every printed string decided."""

from __future__ import annotations

import string
from datetime import date

from report import messages
from report.bulletin import (
    BulletinTemplate,
    Draft,
    DraftCriterion,
    DraftSubsection,
    IssueContent,
    NumberedItem,
)
from report.dates import format_date, format_period
from report.errors import DraftError, MissingFiguresError, NoItemsError, UnknownSubsectionError
from report.normalise import clean_text, normalise_item


def compile_draft(template: BulletinTemplate, issue: IssueContent) -> Draft:
    """Compile `issue` into a Draft; raise DraftError if it cannot be printed as is."""
    return Draft(
        title=template.title,
        issue_line=messages.ISSUE_LINE.format(
            year=issue.year, number=issue.number, total=issue.total_number
        ),
        organisation=template.organisation,
        date_line=format_date(issue.issue_date),
        column_title=template.column_title,
        period_line=format_period(issue.period_start, issue.period_end),
        statistics_heading=messages.section_heading(
            messages.chinese_numeral(1), template.statistics_heading
        ),
        statistics_sentence=statistics_sentence(template, issue),
        news_heading=messages.section_heading(messages.chinese_numeral(2), template.news_heading),
        subsections=_subsections(template, issue),
        inspection_heading=messages.section_heading(
            messages.chinese_numeral(3), template.inspection_heading
        ),
        inspection_intro=template.inspection_intro,
        criteria=_criteria(template, issue),
        distribution=tuple(
            messages.distribution_line(recipient, names)
            for recipient, names in template.distribution
        ),
        print_count=messages.PRINT_COUNT.format(copies=template.copies),
    )


def statistics_sentence(template: BulletinTemplate, issue: IssueContent) -> str:
    """Fill the template's statistics sentence with the year-to-date figures."""
    missing = tuple(
        category.key
        for category in template.statistics_categories
        if category.key not in issue.statistics
    )
    if missing:
        labels = messages.LABEL_SEPARATOR.join(
            category.label for category in template.statistics_categories if category.key in missing
        )
        raise MissingFiguresError(
            f"statistics figures missing for categories: {', '.join(missing)}",
            messages.MISSING_FIGURES.format(labels=labels),
            missing,
        )
    # Figures are cumulative from 1 January of the year the reporting period ends in, so an
    # issue published in January for a December week still counts the old year.
    values: dict[str, str] = {
        "cum_start": format_date(date(issue.period_end.year, 1, 1)),
        "cum_end": format_date(issue.period_end),
    }
    for category in template.statistics_categories:
        figures = issue.statistics[category.key]
        values[f"{category.key}_accepted"] = str(figures.accepted)
        values[f"{category.key}_completed"] = str(figures.completed)
    unknown = sorted(
        name
        for _, name, _, _ in string.Formatter().parse(template.statistics_sentence)
        if name is not None and name not in values
    )
    if unknown:
        raise DraftError(
            f"statistics sentence uses unknown placeholders: {', '.join(unknown)}",
            messages.BAD_STATISTICS_SENTENCE,
        )
    try:
        return template.statistics_sentence.format(**values)
    except (ValueError, IndexError, KeyError) as error:
        raise DraftError(
            f"statistics sentence is not a valid format template: {error}",
            messages.BAD_STATISTICS_SENTENCE,
        ) from error


def _subsections(template: BulletinTemplate, issue: IssueContent) -> tuple[DraftSubsection, ...]:
    known = {subsection.key for subsection in template.subsections}
    unknown = tuple(
        dict.fromkeys(i.subsection_key for i in issue.items if i.subsection_key not in known)
    )
    if unknown:
        raise UnknownSubsectionError(
            f"items refer to subsections missing from the template: {', '.join(unknown)}",
            messages.UNKNOWN_SUBSECTION,
            unknown,
        )
    texts: dict[str, list[str]] = {subsection.key: [] for subsection in template.subsections}
    for item in issue.items:
        text = normalise_item(item.text)
        if text:  # an item that was only whitespace or numbering prints nothing
            texts[item.subsection_key].append(text)
    # Empty subsections are dropped and the rest renumbered from （一）: an editor would not
    # print an empty heading or leave a gap in the numbering.
    filled = [subsection for subsection in template.subsections if texts[subsection.key]]
    if not filled:
        raise NoItemsError("section 2 (window news) has no items", messages.NO_ITEMS)
    return tuple(
        DraftSubsection(
            numeral=messages.chinese_numeral(position),
            title=subsection.title,
            items=tuple(
                NumberedItem(number=number, text=text)
                for number, text in enumerate(texts[subsection.key], start=1)
            ),
        )
        for position, subsection in enumerate(filled, start=1)
    )


def _criteria(template: BulletinTemplate, issue: IssueContent) -> tuple[DraftCriterion, ...]:
    criteria: list[DraftCriterion] = []
    for position, criterion in enumerate(template.criteria, start=1):
        # The verdict is typed by the editor; a blank one means nothing to report.
        verdict = clean_text(issue.verdicts.get(criterion.key, "")).replace("\n", "")
        criteria.append(
            DraftCriterion(
                numeral=messages.chinese_numeral(position),
                label=criterion.label,
                result=verdict or template.default_verdict,
            )
        )
    return tuple(criteria)
