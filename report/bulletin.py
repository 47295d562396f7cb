"""The bulletin's data model: a template (configuration) and one issue's content.

Plain frozen dataclasses so that `report` stays pure: the caller (handlers) maps
stored rows to these, and the renderers turn them into .docx and Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Subsection:
    """A category of window news under section 二, e.g. 优化营商环境工作开展情况."""

    key: str  # stable ASCII identifier, stored with each item
    title: str  # printed after its （一） number


@dataclass(frozen=True, slots=True)
class StatisticsCategory:
    """One category of the platform statistics (accepted and completed counts)."""

    key: str  # used as `{key}_accepted` / `{key}_completed` in the sentence template
    label: str  # shown to the editor while entering figures, e.g. 省本级行政许可事项


@dataclass(frozen=True, slots=True)
class Criterion:
    """One line of the hall inspection checklist, e.g. 按时到岗情况。."""

    key: str
    label: str  # includes its final 。, printed bold in the .docx


@dataclass(frozen=True, slots=True)
class BulletinTemplate:
    """Everything about the bulletin that changes rarely (configuration)."""

    title: str  # 窗口工作周报
    organisation: str  # 四川省政府政务服务和公共资源交易服务中心
    column_title: str  # 政务服务工作
    statistics_heading: str  # 省级政务服务事项受理办理情况 (printed after 一、)
    statistics_sentence: str  # str.format template; see bulletin-format.md §1
    statistics_categories: tuple[StatisticsCategory, ...]
    news_heading: str  # 窗口工作动态 (printed after 二、)
    subsections: tuple[Subsection, ...]
    inspection_heading: str  # 大厅巡查情况 (printed after 三、)
    inspection_intro: str
    criteria: tuple[Criterion, ...]
    default_verdict: str  # 总体情况良好。
    distribution: tuple[tuple[str, str], ...]  # (("报", "中心领导。"), ("送", ...), ("发", ...))
    copies: int  # 80 → （共印 80 份）

    def subsection(self, key: str) -> Subsection:
        """Return the subsection with `key`; KeyError if the template has none."""
        for sub in self.subsections:
            if sub.key == key:
                return sub
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class Figures:
    """Year-to-date accepted and completed counts of one statistics category."""

    accepted: int
    completed: int  # may exceed `accepted` (the reference issue has one such case)


@dataclass(frozen=True, slots=True)
class ItemEntry:
    """One window's news item as stored (text not yet normalised)."""

    subsection_key: str
    window_name: str
    text: str


@dataclass(frozen=True, slots=True)
class IssueContent:
    """One issue's data, in print order (items already sorted by the editor's order)."""

    year: int
    number: int  # restarts each year: 第31期
    total_number: int  # never restarts: 总第406期
    issue_date: date  # 印发日期
    period_start: date
    period_end: date
    items: tuple[ItemEntry, ...]
    statistics: dict[str, Figures] = field(default_factory=dict)  # category key → figures
    verdicts: dict[str, str] = field(default_factory=dict)  # criterion key → result text


@dataclass(frozen=True, slots=True)
class NumberedItem:
    number: int  # （n）
    text: str  # normalised, without the number


@dataclass(frozen=True, slots=True)
class DraftSubsection:
    numeral: str  # 一, 二 … after renumbering (empty subsections are dropped)
    title: str
    items: tuple[NumberedItem, ...]


@dataclass(frozen=True, slots=True)
class DraftCriterion:
    numeral: str
    label: str  # bold part, with its 。
    result: str


@dataclass(frozen=True, slots=True)
class Draft:
    """A compiled issue: every printed string decided, ready for any renderer."""

    title: str
    issue_line: str  # 2022年第31期（总第406期）
    organisation: str
    date_line: str  # 2022年10月21日
    column_title: str
    period_line: str  # （9月13日—9月16日）
    statistics_heading: str  # 一、省级政务服务事项受理办理情况
    statistics_sentence: str
    news_heading: str  # 二、窗口工作动态
    subsections: tuple[DraftSubsection, ...]
    inspection_heading: str  # 三、大厅巡查情况
    inspection_intro: str
    criteria: tuple[DraftCriterion, ...]
    distribution: tuple[str, ...]  # 报：中心领导。 …
    print_count: str  # （共印 80 份）
