"""Realistic data for the benchmarks: department windows and item texts of about 150 characters.

The clauses come from the reference issue (2022年第31期) and read like what windows submit.
"""

from __future__ import annotations

import random
from typing import Final

DEPARTMENTS: Final = (
    "商务厅", "省卫健委", "住建厅", "公安厅", "民政厅", "司法厅", "财政厅", "人社厅",
    "自然资源厅", "生态环境厅", "交通运输厅", "水利厅", "农业农村厅", "文旅厅", "应急厅",
    "市场监管局", "广电局", "体育局", "统计局", "医保局", "林草局", "药监局", "知识产权局",
    "税务局", "气象局", "通信管理局", "烟草专卖局", "教育厅", "科技厅", "经信厅", "发改委",
    "民宗委", "退役军人厅", "审计厅", "外事办", "国资委", "金融监管局", "人防办", "能源局",
    "粮食和物资储备局", "监狱管理局", "戒毒管理局", "消防救援总队", "地震局", "测绘地信局",
    "档案馆", "邮政管理局", "民航监管局", "成都海关", "边检总站", "人民银行", "银保监局",
    "证监局", "公积金中心", "残联", "红十字会", "工商联", "侨联", "科协", "总工会",
)  # fmt: skip

CLAUSES: Final = (
    "为扎实推进全省政务服务领域“一网通办”政务数据资源共享",
    "积极推动市场主体电子营业执照在政务服务领域跨行业、跨区域、跨层级应用",
    "持续推动审批服务进一步“减材料”",
    "依托省一体化政务服务平台，推广电子证照在本领域的应用",
    "实现了市场主体身份在线“一次验证、全网通用”",
    "无需另行提交纸质营业执照或复印件，进一步降低企业办事成本",
    "推行11项“川渝通办”事项“全程网办”",
    "“现场办公”对新增院区审批工作进行“面对面”专题培训指导",
    "对审批准备中存在的困难和问题提供“一揽子”政策答疑、指导解决",
    "在严格落实居家办公要求的同时，坚持以企业需求为导向",
    "主动与相关部委沟通协调，争取到对方技术和人力的支持",
    "全力保障企业进出口业务正常开展，受到企业好评",
    "通过加快回复 12345 咨询件、对部分办公电话呼叫转移等方式解答群众咨询",
    "受理审核各类资质申请及安全生产许可证业务共计 4082 件",
    "对通过审核的 2 个批次 108 家企业如期进行了通告",
    "对未通过初审的企业分别延长了 5 个工作日的申诉期",
    "立即指派 2 名工作人员开展现场审查工作，加班完成现场审查报告",
    "在 3 个工作日内完成登记工作，较法定审批时限提前了 15 个工作日",
    "优化审批流程和方式，组织专家进行现场技术审查",
    "确保疫情期间依法依规执业",
)


def window_name(index: int) -> str:
    """Return a distinct window name for any index (a hall of 2,000 windows repeats departments)."""
    department = DEPARTMENTS[index % len(DEPARTMENTS)]
    round_ = index // len(DEPARTMENTS)
    return f"{department}窗口" if round_ == 0 else f"{department}第{round_ + 1}窗口"


def short_name(index: int) -> str:
    department = DEPARTMENTS[index % len(DEPARTMENTS)]
    round_ = index // len(DEPARTMENTS)
    return department if round_ == 0 else f"{department}{round_ + 1}"


def item_text(rng: random.Random, length: int = 150) -> str:
    """Return an item as a window types it: its own numbering, clauses, about `length` chars."""
    text = f"({rng.randint(1, 5)}) " if rng.random() < 0.5 else ""
    text += rng.choice(DEPARTMENTS) + "窗口"
    while len(text) < length:
        text += rng.choice(CLAUSES) + "，"
    return text[:-1] + "。"
