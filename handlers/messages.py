"""Every word the bot says to window staff, editors and inspectors, in one place."""

from __future__ import annotations

from typing import Final

# --- general ---
HELP_SUFFIX: Final = (
    "任何时候发送“返回”可回到上一步，发送“取消”可放弃当前操作，发送“帮助”查看说明。"
)
CANCELLED: Final = "已取消。"
TIMED_OUT: Final = "上次的操作时间过长，已自动取消。"
EMPTY_MESSAGE: Final = "消息是空的，请重新发送。"
UNSUPPORTED_MESSAGE: Final = "目前只能处理文字消息，请用文字回复。"
INTERNAL_ERROR: Final = "系统暂时出了点问题，刚才的消息没有保存，请稍后再发一次。"
# Neutral between channels: text-only ones number the choices, Telegram shows buttons, and a
# typed number answers both. Nothing here says 点 (tap), which a terminal cannot do.
CHOOSE_NUMBER: Final = "请从下面的选项中选择一项（回复选项前的数字即可）。"
MENU_PROMPT: Final = "请选择要做的事："
RESUMING: Final = "上次的操作还没有完成，接着继续（发送“返回”回到上一步，“取消”放弃）："
NO_OPEN_ISSUE: Final = "目前没有正在收集的周报，开始收集时会通知你。"
ISSUE_CLOSED: Final = "本期周报已截止收集，如需补充请联系编辑。"

# --- binding ---
WELCOME_UNBOUND: Final = (
    "你好，这里是窗口工作周报助手。请先发送管理员提供的邀请码完成绑定；"
    "如果还没有邀请码，请联系大厅管理员索取。"
)
INVITE_INVALID: Final = "邀请码无效、已使用或已过期，请向管理员索取新的邀请码。"
INVITE_LOCKED: Final = (
    "邀请码输错次数过多，本聊天暂停使用邀请码一小时。请核对管理员提供的邀请码，一小时后再发送。"
)
CHANNEL_NAMES: Final = {
    "console": "命令行",
    "telegram": "Telegram",
    "wechat": "微信",
    "wecom": "企业微信",
    "dingtalk": "钉钉",
    "web": "网页",
}


def invite_guessing(channel: str, who: str, chat_id: str, wrong: int) -> str:
    """The editors' notice about a chat locked out for wrong invite codes."""
    name = f"“{who}”" if who else "一位未绑定的用户"
    return (
        f"安全提醒：{CHANNEL_NAMES.get(channel, channel)}上的{name}（聊天 {chat_id}）"
        f"连续发送了 {wrong} 个错误的邀请码，已暂停该聊天使用邀请码一小时。"
        "如对方是本单位人员，请核对后重新发给他邀请码；如不是，可不予理会。"
    )


ROLE_NAMES: Final = {
    "staff": "报送人员",
    "editor": "编辑",
    "inspector": "巡查人员",
    "admin": "管理员",
}


def bound(place: str, role: str) -> str:
    return f"绑定成功：你已成为{place}的{ROLE_NAMES.get(role, role)}。"


HALL: Final = "大厅"

# --- menu labels ---
LABEL_SUBMIT: Final = "提交动态"
LABEL_NO_NEWS: Final = "本周无动态"
LABEL_MY_ITEMS: Final = "查看/修改已交动态"
LABEL_HELP: Final = "帮助"
LABEL_STATUS: Final = "本期报送情况"
LABEL_REMIND: Final = "提醒未报送窗口"
LABEL_COMPILE: Final = "生成草稿"
LABEL_ORDER: Final = "调整动态顺序"
LABEL_STATISTICS: Final = "录入统计数据"
LABEL_INSPECTION: Final = "录入大厅巡查"
LABEL_EXTEND: Final = "延长截止时间"
LABEL_WINDOWS: Final = "窗口管理"
LABEL_RETURN: Final = "退回动态"
CANCEL_WORDS: Final = frozenset({"取消", "/cancel", "退出"})
# Back one step: the step's own 返回 choice if it offers one, else the step before it.
BACK_WORDS: Final = frozenset({"返回", "上一步", "/back"})
HELP_WORDS: Final = frozenset({"帮助", "/help", "？", "?"})
NO_NEWS_WORDS: Final = frozenset({"本周无动态", "无动态", "本周无"})


def weekly_prompt(window_name: str, period: str) -> str:
    return f"{window_name}：请提交本周{period}工作动态。没有动态请回复“本周无动态”。"


def reminder(window_name: str, period: str) -> str:
    return (
        f"提醒：{window_name}还没有提交本周{period}工作动态。"
        "请尽快提交；没有动态请回复“本周无动态”。"
    )


# Each role's help names every action of its menu by its label (handlers/menu.py; a test
# checks it, so a new menu entry needs a line here).
STAFF_HELP: Final = (
    "你可以：\n"
    f"1. {LABEL_SUBMIT}：选择栏目，发送一段文字，确认后即提交；\n"
    f"2. {LABEL_NO_NEWS}：本周没有可报送的内容时回复；\n"
    f"3. {LABEL_MY_ITEMS}：截止前可以修改或撤回本窗口已交的动态。\n" + HELP_SUFFIX
)
EDITOR_HELP: Final = (
    "你可以：\n"
    f"1. {LABEL_STATUS}：查看各窗口已提交、本周无动态、免报和未报送的情况；\n"
    f"2. {LABEL_REMIND}：向还没有报送的窗口再发一次提醒；\n"
    f"3. {LABEL_STATISTICS}：逐项输入本年累计的受理、办结件数；\n"
    f"4. {LABEL_INSPECTION}：逐项录入本周大厅巡查情况；\n"
    f"5. {LABEL_ORDER}：按栏目调整动态在周报中的先后；\n"
    f"6. {LABEL_EXTEND}：推迟本期截止时间，已截止的一期会重新开放；\n"
    f"7. {LABEL_WINDOWS}：为某个窗口重新开放报送、设为本周免报或取消免报；\n"
    f"8. {LABEL_COMPILE}：选定印发日期，按已收到的内容生成周报草稿（Word 文件和 PDF 版）；\n"
    f"9. {LABEL_RETURN}：把一条动态连同修改意见退回窗口，窗口修改后替换原文并通知你。\n"
    + HELP_SUFFIX
)
INSPECTOR_HELP: Final = (
    "你可以：\n"
    f"1. {LABEL_INSPECTION}：逐项选择“总体情况良好”，或直接发送发现的问题。\n" + HELP_SUFFIX
)

# --- intake ---
ASK_SUBSECTION: Final = "请选择这条动态所属的栏目："
ASK_SUBSECTION_HELP: Final = "回复栏目前的数字选择栏目。" + HELP_SUFFIX


ASK_TEXT: Final = "请发送这条动态的内容。分成几段的文字可以一次粘贴发送，会合并为一段。"


def ask_text(subsection_title: str) -> str:
    return f"栏目：{subsection_title}\n{ASK_TEXT}"


ITEM_HAS_NO_WORDS: Final = "这条消息只有标点或符号，不能作为一条动态。请发送动态的文字内容。"


def item_is_a_number(subsection_title: str) -> str:
    return (
        f"只收到一个数字，不能作为一条动态。现在需要发送“{subsection_title}”栏目的动态内容；"
        "如果是想选择别的操作，请先发送“返回”或“取消”。"
    )


def item_too_short(minimum: int, length: int) -> str:
    return (
        f"这条动态只有 {length} 个字，太短了（至少 {minimum} 个字，不计标点）。"
        "请写完整后重新发送；如要放弃，请发送“取消”。"
    )


NO_NEWS_AT_TEXT_STEP: Final = "如本周没有动态，请先发送“取消”，再回复“本周无动态”。"
ASK_TEXT_HELP: Final = (
    "直接发送这条动态的文字即可；分成几段的文字可以一次粘贴发送，会合并为一段。"
    "标点和空格会自动规范，不必加编号。" + HELP_SUFFIX
)


def text_too_long(limit: int, length: int) -> str:
    return f"这条动态有 {length} 字，超过了 {limit} 字的上限，未保存。请精简或拆成几条后重新发送。"


def preview(subsection_title: str, text: str) -> str:
    return f"请核对（标点已按公文规范调整）：\n【{subsection_title}】\n{text}"


LABEL_CONFIRM: Final = "确认提交"
LABEL_CHANGE: Final = "修改内容"
LABEL_CANCEL: Final = "取消"
PREVIEW_HELP: Final = "回复 1 提交这条动态，2 重新发送内容，3 放弃。" + HELP_SUFFIX


def submitted(count: int) -> str:
    return f"已提交。本窗口本期已交 {count} 条动态。还要继续添加吗？"


SUBMITTED_LATE: Final = (
    "本期已过截止时间，这条动态已作为迟交动态提交，编辑会决定是否补入本期。谢谢！"
)


def late_item(window_name: str) -> str:
    return f"{window_name}在截止后提交了 1 条动态（已标记为迟交）。如需补入，请重新生成草稿。"


LABEL_ADD_MORE: Final = "继续添加"
LABEL_DONE: Final = "完成"
MORE_HELP: Final = "回复 1 再添加一条动态，2 结束。" + HELP_SUFFIX


def finished(count: int) -> str:
    return f"好的，本期共收到本窗口 {count} 条动态，谢谢！截止前仍可修改或撤回。"


def no_news_recorded(window_name: str) -> str:
    return f"已记录：{window_name}本周无动态。如有新动态，截止前仍可提交。"


def no_news_but_items(count: int) -> str:
    return (
        f"本窗口本期已提交 {count} 条动态，不能再报“本周无动态”。"
        "如需撤回，请选择“查看/修改已交动态”。"
    )


# --- list, edit, withdraw ---
NO_ITEMS_YET: Final = "本窗口本期还没有提交动态。"


def item_list(lines: list[str]) -> str:
    return "本窗口本期已交动态：\n" + "\n".join(lines) + "\n请选择要处理的一条："


def item_line(index: int, subsection_title: str, text: str) -> str:
    return f"{index}.【{subsection_title}】{text}"


def item_choice(index: int) -> str:
    return f"第{index}条"


LABEL_BACK: Final = "返回"
LIST_HELP: Final = "回复序号选择一条动态，然后可以修改或撤回。" + HELP_SUFFIX
ITEM_ACTION: Final = "要对这条动态做什么？\n{text}"
LABEL_EDIT: Final = "修改"
LABEL_WITHDRAW: Final = "撤回"
ITEM_ACTION_HELP: Final = "回复 1 修改文字，2 撤回这条动态，3 返回列表。" + HELP_SUFFIX
ASK_NEW_TEXT: Final = "请发送修改后的完整内容（分成几段的文字可以一次粘贴发送）："
EDITED: Final = "已修改。"
WITHDRAWN: Final = "已撤回这条动态。"
NOT_YOUR_ITEM: Final = "只能处理本窗口自己提交的动态。"
ITEM_GONE: Final = "这条动态已被撤回或不存在。"
STAFF_ONLY: Final = "只有窗口报送人员可以提交动态。"
LABEL_SAVE_EDIT: Final = "确认修改"

# --- statistics ---


def ask_figure(label: str, kind: str, cum_start: str, cum_end: str) -> str:
    return f"请输入{label}{kind}件数（{cum_start}至{cum_end}累计）："


KIND_ACCEPTED: Final = "受理"
KIND_COMPLETED: Final = "办结"
STATISTICS_HELP: Final = (
    "请发送一个整数，例如 617058；可带千位分隔符（617,058）、单位（617058件）或用全角数字。"
    + HELP_SUFFIX
)
NOT_A_NUMBER: Final = "请发送一个整数，例如 617058 或 617058件（不要写“万”）。"
STATISTICS_PREVIEW: Final = "请核对统计数据：\n{sentence}"
STATISTICS_SAVED: Final = "统计数据已保存。"
LABEL_SAVE: Final = "确认保存"
LABEL_REENTER: Final = "重新录入"
EDITOR_ONLY: Final = "只有编辑可以做这件事。"

# --- inspection ---


def ask_criterion(numeral: str, label: str) -> str:
    return f"（{numeral}）{label}\n一切正常请选“总体情况良好”；发现问题请直接发送情况说明。"


INSPECTION_HELP: Final = "选 1 表示总体情况良好，或直接发送这一项的巡查情况。" + HELP_SUFFIX
INSPECTION_PREVIEW: Final = "请核对本周大厅巡查情况：\n{lines}"
INSPECTION_SAVED: Final = "大厅巡查情况已保存。"
INSPECTOR_ONLY: Final = "只有巡查人员或编辑可以录入大厅巡查情况。"

# --- editor ---


def issue_state(status: str, deadline: str | None, closed: str | None) -> str:
    """The issue's state line: open until its deadline, closed, or published."""
    if status == "published":
        return "状态：已发布"
    if status == "closed":
        return f"状态：已截止（{closed}），草稿已汇编并发给编辑" if closed else "状态：已截止"
    return f"状态：报送中，截止时间 {deadline}" if deadline else "状态：报送中"


def status_report(
    issue_line: str,
    period: str,
    submitted: list[str],
    no_news: list[str],
    silent: list[str],
    item_count: int,
    exempt: list[str] | None = None,
    state: str | None = None,
) -> str:
    def names(values: list[str]) -> str:
        return "、".join(values) if values else "无"

    lines = [f"{issue_line}{period}", *([state] if state else [])]
    lines += [
        f"已提交（{len(submitted)}）：{names(submitted)}",
        f"本周无动态（{len(no_news)}）：{names(no_news)}",
        f"未报送（{len(silent)}）：{names(silent)}",
    ]
    if exempt:
        lines.append(f"免报（{len(exempt)}）：{names(exempt)}")
    lines.append(f"共 {item_count} 条动态。")
    return "\n".join(lines)


def undeliverable(who: str, place: str) -> str:
    return f"无法向{place}的 {who} 发送消息（对方可能已屏蔽机器人或退出），请电话联系。"


def sends_failed(count: int) -> str:
    return f"注意：有 {count} 条消息发送失败，请管理员运行 zhoubao status 查看原因。"


JOB_NAMES = {
    "open": "开启本期",
    "prompt": "通知各窗口",
    "close": "截止并生成草稿",
    "remind": "催报提醒",
}


def job_failed(job: str, period: str, reason: str) -> str:
    return (
        f"{period}的“{JOB_NAMES.get(job, job)}”没有完成（{reason}）。"
        "zhoubao 每隔半分钟会自动重试；如一直不成功，请管理员查看日志或运行 zhoubao status，"
        "也可以先在菜单中选“生成草稿”手动汇编。"
    )


def reminded(count: int, unbound: int = 0) -> str:
    """The editor's reminder went to `count` silent windows; `unbound` silent ones have nobody."""
    if not count and not unbound:
        return "所有窗口都已报送，无需提醒。"
    nobody = f"{unbound} 个未报送窗口尚无绑定人员，无法提醒，请联系管理员为其生成邀请码。"
    if not count:
        return nobody
    sent = f"已向 {count} 个未报送窗口发送提醒"
    return f"{sent}；另有 {nobody}" if unbound else f"{sent}。"


def draft_ready(issue_line: str, counts: list[str], silent: list[str]) -> str:
    silent_text = "、".join(silent) if silent else "无"
    return (
        f"{issue_line}草稿已生成，请审阅。\n"
        + "\n".join(counts)
        + f"\n未报送窗口（未列入周报）：{silent_text}"
    )


def draft_pdf(issue_line: str) -> str:
    return f"{issue_line}草稿的 PDF 版（按公文版式排好的样张，可直接预览、打印）。"


# Why a draft comes without its PDF (the .docx is sent all the same), by NoPdf value.
NO_PDF: Final = {
    "no_office": "（服务器上没有安装 LibreOffice，所以只有 Word 文档，没有 PDF 版。）",
    "failed": "（LibreOffice 这次没能排出 PDF 版，只发送 Word 文档；可稍后再生成一次。）",
}


def draft_failed(issue_line: str, reason: str) -> str:
    return f"{issue_line}已截止收集，但草稿暂时无法生成：{reason}"


def subsection_count(title: str, count: int) -> str:
    return f"{title}：{count} 条"


ORDER_ASK_SUBSECTION: Final = "要调整哪个栏目的动态顺序？"


def order_list(lines: list[str]) -> str:
    return "当前顺序：\n" + "\n".join(lines) + "\n请按新的顺序发送序号，用空格分开，例如：2 1 3"


def order_bad(count: int) -> str:
    return f"请把 1 到 {count} 每个序号各写一次，用空格分开，例如：2 1 3"


ORDER_SAVED: Final = "顺序已保存。"
COMPILE_ASK_DATE: Final = (
    "周报上的印发日期选哪一天？请选择下面的日期，或直接发送日期，例如 2022-10-21 或 10月21日。"
)
COMPILE_HELP: Final = (
    "印发日期印在周报报头，应是工作日。选择一个日期，或直接发送日期"
    "（2022-10-21、2022年10月21日、10月21日）。" + HELP_SUFFIX
)
COMPILE_BAD_DATE: Final = "没看懂这个日期。请发送例如 2022-10-21 或 10月21日，或选择一个日期。"
COMPILE_DATE_FAR: Final = "印发日期应在今天前后一两个月之内，请检查年份和月份后重新发送。"


def compile_not_workday(day: str) -> str:
    return f"{day}不是工作日，印发日期应是工作日。请另选一天。"


ORDER_HELP: Final = "按希望的先后顺序发送各条动态的序号，用空格分开。" + HELP_SUFFIX
NOTHING_TO_ORDER: Final = "本期还没有可排序的动态。"

# --- the editor's control of the week ---
NONE: Final = "未设定"
DEADLINE_IN_PAST: Final = "这个时间已经过了，请选一个以后的时间。"
DEADLINE_HELP: Final = (
    "回复选项前的数字，把本期截止时间延长到那个时间；已截止的一期会重新开放。" + HELP_SUFFIX
)
WINDOWS_HELP: Final = (
    "先选窗口，再选“重新开放报送”（截止后仍可提交，不算迟交）、“本周免报”（不再催报）"
    "或“取消免报”。" + HELP_SUFFIX
)
ASK_WINDOW: Final = "要处理哪个窗口？"
LABEL_REOPEN: Final = "重新开放报送"
LABEL_EXEMPT: Final = "本周免报"
LABEL_UNEXEMPT: Final = "取消免报"
STATE_SUBMITTED: Final = "已提交"
STATE_NO_NEWS: Final = "本周无动态"
STATE_EXEMPT: Final = "免报"
STATE_SILENT: Final = "未报送"


def ask_deadline(current: str) -> str:
    return f"本期截止时间：{current}。延长到："


def deadline_moved(when: str) -> str:
    return f"本期截止时间已改为 {when}，届时自动汇编草稿并发给编辑。"


def window_actions(window_name: str) -> str:
    return f"{window_name}：要做什么？"


def reopened(window_name: str) -> str:
    return f"编辑已为{window_name}重新开放本期报送，请尽快提交；没有动态请回复“本周无动态”。"


def window_reopened(window_name: str) -> str:
    return f"已为{window_name}重新开放本期报送，并通知了该窗口。"


def window_exempt(window_name: str, exempt: bool) -> str:
    return f"{window_name}本周免报，不再催报。" if exempt else f"已取消{window_name}的免报。"


# --- returning an item to its window ---
NOTHING_TO_RETURN: Final = "本期还没有可退回的动态。"
RETURN_PICK_HELP: Final = "回复序号选择要退回的一条动态，接着发送修改意见。" + HELP_SUFFIX
RETURN_COMMENT_HELP: Final = (
    "直接发送修改意见，窗口会连同这条动态一起收到，并可一键修改。" + HELP_SUFFIX
)
LABEL_REVISE: Final = "按意见修改"
REVISE_HELP: Final = "直接发送修改后的完整内容，会替换原来的这条动态。" + HELP_SUFFIX
REVISED: Final = "已修改，编辑会收到通知。"


def return_list(lines: list[str]) -> str:
    return "本期已交动态：\n" + "\n".join(lines) + "\n请选择要退回窗口修改的一条："


def return_ask_comment(window_name: str, text: str) -> str:
    return f"退回{window_name}的这条动态：\n{text}\n请发送修改意见："


def item_returned(window_name: str) -> str:
    return f"已把这条动态退回{window_name}，窗口修改后会通知你。"


def returned_to_window(text: str, comment: str) -> str:
    return f"编辑退回了本窗口的这条动态，请按意见修改：\n{text}\n修改意见：{comment}"


def revise_ask(text: str) -> str:
    return f"原内容：\n{text}\n请发送修改后的完整内容，将替换原来的这条动态："


def item_revised(window_name: str, text: str) -> str:
    return f"{window_name}已按意见修改了退回的动态：\n{text}"
