"""Issue 2022-31 (总第406期) of the bulletin, as literals: template, content and expected text.

Source: shared/reference/weekly-bulletin-2022-31.txt. The raw item texts keep the reference's
quirks (half-width `(2) ` numbering, `共计 4082 件`, paragraphs split mid-word by a blank line)
so that compiling them exercises normalisation; the EXPECTED_* values are what must be printed.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from report import messages
from report.bulletin import (
    BulletinTemplate,
    Criterion,
    Figures,
    IssueContent,
    ItemEntry,
    StatisticsCategory,
    Subsection,
)

TITLE: Final = "窗口工作周报"
ORGANISATION: Final = "四川省政府政务服务和公共资源交易服务中心"
COLUMN_TITLE: Final = "政务服务工作"
SUBSECTIONS: Final = (
    Subsection("business_environment", "优化营商环境工作开展情况"),
    Subsection("service_efficiency", "窗口服务效能提升工作情况"),
)
STATISTICS_CATEGORIES: Final = (
    StatisticsCategory("permit", "省本级行政许可事项"),
    StatisticsCategory("public", "公共服务事项"),
    StatisticsCategory("other", "其它九类行权事项"),
)
CRITERIA: Final = (
    Criterion("attendance", "按时到岗情况。"),
    Criterion("workspace", "工作区域标准化执行情况。"),
    Criterion("dress", "着装情况。"),
    Criterion("badge", "工作牌佩戴情况。"),
    Criterion("discipline", "纪律秩序。"),
    Criterion("prevention", "大厅防控情况。"),
)
DISTRIBUTION: Final = (
    ("报", "中心领导。"),
    ("送", "各相关省级部门（单位），中心各处（室）、直属单位。"),
    ("发", "各部门窗口。"),
)
COPIES: Final = 80
PREVENTION_VERDICT: Final = "全体居家办公，大厅实行关闭状态。"
FIGURES: Final = {
    "permit": Figures(accepted=617058, completed=611244),
    "public": Figures(accepted=19691982, completed=7463962),
    "other": Figures(accepted=49602, completed=50398),
}

RAW_BUSINESS_ENVIRONMENT_ITEMS: Final = (
    (
        "（1）为扎实推进全省商务政务服务领域“一网通办”政务数据资源共享，商务厅积极"
        "推动市场主体电子营业执照在政务服\n\n务领域跨行业、跨区域、跨层级应用，持续推"
        "动商务领域审批服务进一步“减材料”。商务厅依托省一体化政务服务平台，推广电子"
        "营业执照在商务政务服务领域的应用，主动将由省市县三级商务主管部门实施的对外贸"
        "易、服务贸易和对外合作领域的10类依申请类政务服务事项纳入《四川省电子营业执"
        "照应用首批事项清单》，并完成将电子营业执照的共享应用嵌入审批事项的业务流程等"
        "应用配置，实现了市场主体身份在线“一次验证、全网通用”。企业和群众通过省一体"
        "化政务服务平台或进行现场申办，优先采用在线查询、验证、比对、下载电子营业执照"
        "，无需另行提交纸质企业营业执照或复印件，有助于解决市场主体办事反复提交营业执"
        "照的问题，进一步降低企业办事成本。"
    ),
    (
        "(2) 省卫健委和重庆市卫健委互联“共通”，建立成渝地区双城经济圈卫生健康协"
        "调机制，推行11项“川渝通办”卫生健康事项“全程网办”，常态化开展川渝地区“"
        "互联网+医疗健康”、妇幼健康事业高质量发展论坛等双城经济圈经验交流。协同开展"
        "2021年川渝卫生专业技术人才“双百”培养项目招生，联合筹备首届川渝卫生健康"
        "执法技能竞赛，加快推动两地电子健康卡互联互通。"
    ),
)

RAW_SERVICE_EFFICIENCY_ITEMS: Final = (
    (
        "(1) 近日，省卫健委窗口“现场办公”对省妇幼保健院新增院区审批工作进行“面"
        "对面”专题培训指导，了解该院新增院区建设情况和开业计划，提前指导新增院区执业"
        "登记准备工作，对审批准备中存在的困难和问题提供“一揽子”政策答疑、指导解决，"
        "该院领导感谢审批窗口送了一场“及时雨”。"
    ),
    (
        "(2) 商务厅窗口在严格落实居家办公要求的同时，坚持以企业需求为导向，主动与"
        "商务部配额许可证事务局、安全管制局\n\n沟通协调，争取到对方技术和人力的支持，"
        "代我厅窗口为企业审发货物出口、非机电进口、机电进口、两用物项进出口等许可证，"
        "尽力满足企业申办外贸许可证的需求，全力保障企业进出口业务正常开展，千方百计助"
        "力我省外贸稳增长，受到企业好评。"
    ),
    (
        "(3) 住建厅窗口居家不停工，通过加快回复 12345 咨询件、对部分办公电"
        "话呼叫转移等方式，解答企业和办事群众的咨询，同时正常推进网上审批及申报业务公"
        "示工作，受理审核建筑行业各类资质申请、入川备案及实行电子化审查的安全生产许可"
        "证业务共计 4082 件。考虑到居家期间企业无法正常出行等情况，住建窗口对通"
        "过审核的 2 个批次 108 家企业如期进行了通告，对未通过初审的企业分别延"
        "长了 5 个工作日的申诉期，并及时向住建部申请延长了我省涉及报部业务企业的申"
        "诉期。"
    ),
    (
        "(4) 近日，省卫健委窗口获悉四川护理职业学院附属医院急需新增 5 台血液透"
        "析机以及达州市中心血站执业许可证到期需要延续的审批需求。窗口立即指派 2 名"
        "工作人员，赴四川护理职业学院附属医院开展现场审查工作，加班完成现场审查报告，"
        "出具审查意见，在 3 个工作日内完成登记工作，较法定审批时限提前了 15 个"
        "工作日，满足了因疫情转运病人需求。对达州市中心血站执业许可证到期延续事项，窗"
        "口优化审批流程和方式，指派达州市卫健委按照相关法律法规和政策文件要求，组织专"
        "家对该血站进行现场技术审查，我窗口根据现场审查意见，结合该血站上一执业周期业"
        "务开展、监督检查等情况进行审核，在 4 个工作日内完成全部流程，确保该血站疫"
        "情期间依法依规执业。"
    ),
)

EXPECTED_BUSINESS_ENVIRONMENT_ITEMS: Final = (
    (
        "为扎实推进全省商务政务服务领域“一网通办”政务数据资源共享，商务厅积极推动市"
        "场主体电子营业执照在政务服务领域跨行业、跨区域、跨层级应用，持续推动商务领域"
        "审批服务进一步“减材料”。商务厅依托省一体化政务服务平台，推广电子营业执照在"
        "商务政务服务领域的应用，主动将由省市县三级商务主管部门实施的对外贸易、服务贸"
        "易和对外合作领域的10类依申请类政务服务事项纳入《四川省电子营业执照应用首批"
        "事项清单》，并完成将电子营业执照的共享应用嵌入审批事项的业务流程等应用配置，"
        "实现了市场主体身份在线“一次验证、全网通用”。企业和群众通过省一体化政务服务"
        "平台或进行现场申办，优先采用在线查询、验证、比对、下载电子营业执照，无需另行"
        "提交纸质企业营业执照或复印件，有助于解决市场主体办事反复提交营业执照的问题，"
        "进一步降低企业办事成本。"
    ),
    (
        "省卫健委和重庆市卫健委互联“共通”，建立成渝地区双城经济圈卫生健康协调机制，"
        "推行11项“川渝通办”卫生健康事项“全程网办”，常态化开展川渝地区“互联网+"
        "医疗健康”、妇幼健康事业高质量发展论坛等双城经济圈经验交流。协同开展2021"
        "年川渝卫生专业技术人才“双百”培养项目招生，联合筹备首届川渝卫生健康执法技能"
        "竞赛，加快推动两地电子健康卡互联互通。"
    ),
)

EXPECTED_SERVICE_EFFICIENCY_ITEMS: Final = (
    (
        "近日，省卫健委窗口“现场办公”对省妇幼保健院新增院区审批工作进行“面对面”专"
        "题培训指导，了解该院新增院区建设情况和开业计划，提前指导新增院区执业登记准备"
        "工作，对审批准备中存在的困难和问题提供“一揽子”政策答疑、指导解决，该院领导"
        "感谢审批窗口送了一场“及时雨”。"
    ),
    (
        "商务厅窗口在严格落实居家办公要求的同时，坚持以企业需求为导向，主动与商务部配"
        "额许可证事务局、安全管制局沟通协调，争取到对方技术和人力的支持，代我厅窗口为"
        "企业审发货物出口、非机电进口、机电进口、两用物项进出口等许可证，尽力满足企业"
        "申办外贸许可证的需求，全力保障企业进出口业务正常开展，千方百计助力我省外贸稳"
        "增长，受到企业好评。"
    ),
    (
        "住建厅窗口居家不停工，通过加快回复12345咨询件、对部分办公电话呼叫转移等"
        "方式，解答企业和办事群众的咨询，同时正常推进网上审批及申报业务公示工作，受理"
        "审核建筑行业各类资质申请、入川备案及实行电子化审查的安全生产许可证业务共计4"
        "082件。考虑到居家期间企业无法正常出行等情况，住建窗口对通过审核的2个批次"
        "108家企业如期进行了通告，对未通过初审的企业分别延长了5个工作日的申诉期，"
        "并及时向住建部申请延长了我省涉及报部业务企业的申诉期。"
    ),
    (
        "近日，省卫健委窗口获悉四川护理职业学院附属医院急需新增5台血液透析机以及达州"
        "市中心血站执业许可证到期需要延续的审批需求。窗口立即指派2名工作人员，赴四川"
        "护理职业学院附属医院开展现场审查工作，加班完成现场审查报告，出具审查意见，在"
        "3个工作日内完成登记工作，较法定审批时限提前了15个工作日，满足了因疫情转运"
        "病人需求。对达州市中心血站执业许可证到期延续事项，窗口优化审批流程和方式，指"
        "派达州市卫健委按照相关法律法规和政策文件要求，组织专家对该血站进行现场技术审"
        "查，我窗口根据现场审查意见，结合该血站上一执业周期业务开展、监督检查等情况进"
        "行审核，在4个工作日内完成全部流程，确保该血站疫情期间依法依规执业。"
    ),
)

# Joined where the reference splits 政务平台服 / 务处 over a blank line.
INSPECTION_INTRO: Final = (
    "大厅窗口规范化、标准化作为大厅管理贯彻始终的重点工作之一，各部门窗口须严格执"
    "行规范化、标准化要求，政务平台服务处结合“放管服”大督查要求，将加强管理力度"
    "和措施、加大督（巡）查力度，落实各项规范化、标准化要求。本周大厅巡查情况如下"
    "："
)

STATISTICS_SENTENCE: Final = (
    "据四川一体化政务服务平台数据统计，2022年1月1日至2022年9月16日，"
    "省本级行政许可事项受理617058件，办结611244件；"
    "公共服务事项受理19691982件，办结7463962件，"
    "其它九类行权事项受理49602件，累计办结50398件。"
)

# The whole issue as the reference prints it, one paragraph a line, without the Markdown
# markup the reference carries (criteria bullets and bold).
EXPECTED_LINES: Final = (
    "窗口工作周报",
    "2022年第31期（总第406期）",
    ORGANISATION,
    "2022年10月21日",
    "政务服务工作",
    "（9月13日—9月16日）",
    "一、省级政务服务事项受理办理情况",
    STATISTICS_SENTENCE,
    "二、窗口工作动态",
    "（一）优化营商环境工作开展情况",
    *(f"（{n}）{text}" for n, text in enumerate(EXPECTED_BUSINESS_ENVIRONMENT_ITEMS, start=1)),
    "（二）窗口服务效能提升工作情况",
    *(f"（{n}）{text}" for n, text in enumerate(EXPECTED_SERVICE_EFFICIENCY_ITEMS, start=1)),
    "三、大厅巡查情况",
    INSPECTION_INTRO,
    "（一）按时到岗情况。总体情况良好。",
    "（二）工作区域标准化执行情况。总体情况良好。",
    "（三）着装情况。总体情况良好。",
    "（四）工作牌佩戴情况。总体情况良好。",
    "（五）纪律秩序。总体情况良好。",
    "（六）大厅防控情况。全体居家办公，大厅实行关闭状态。",
    "报：中心领导。",
    "送：各相关省级部门（单位），中心各处（室）、直属单位。",
    "发：各部门窗口。",
    "（共印 80 份）",
)


def reference_template() -> BulletinTemplate:
    """Return the bulletin configuration the reference issue was printed with."""
    return BulletinTemplate(
        title=TITLE,
        organisation=ORGANISATION,
        column_title=COLUMN_TITLE,
        statistics_heading=messages.STATISTICS_HEADING,
        statistics_sentence=messages.STATISTICS_SENTENCE,
        statistics_categories=STATISTICS_CATEGORIES,
        news_heading=messages.NEWS_HEADING,
        subsections=SUBSECTIONS,
        inspection_heading=messages.INSPECTION_HEADING,
        inspection_intro=INSPECTION_INTRO,
        criteria=CRITERIA,
        default_verdict=messages.DEFAULT_VERDICT,
        distribution=DISTRIBUTION,
        copies=COPIES,
    )


def reference_items() -> tuple[ItemEntry, ...]:
    """Return the reference issue's items as windows submitted them, in print order."""
    business = tuple(
        ItemEntry("business_environment", window, text)
        for window, text in zip(("商务厅", "省卫健委"), RAW_BUSINESS_ENVIRONMENT_ITEMS, strict=True)
    )
    efficiency = tuple(
        ItemEntry("service_efficiency", window, text)
        for window, text in zip(
            ("省卫健委", "商务厅", "住建厅", "省卫健委"), RAW_SERVICE_EFFICIENCY_ITEMS, strict=True
        )
    )
    return business + efficiency


def reference_issue() -> IssueContent:
    """Return the reference issue's content (2022年第31期, 总第406期)."""
    return IssueContent(
        year=2022,
        number=31,
        total_number=406,
        issue_date=date(2022, 10, 21),
        period_start=date(2022, 9, 13),
        period_end=date(2022, 9, 16),
        items=reference_items(),
        statistics=dict(FIGURES),
        verdicts={"prevention": PREVENTION_VERDICT},
    )


def reference() -> tuple[BulletinTemplate, IssueContent]:
    """Return the reference template and issue content together."""
    return reference_template(), reference_issue()
