"""What the command line shows the administrator and the editor."""

from __future__ import annotations

from typing import Final

CLI_DESCRIPTION: Final = (
    "zhoubao：窗口工作周报助手。向各部门窗口收集每周工作动态，并汇编成周报草稿。"
)
CONFIG_HELP: Final = "配置文件路径（默认：环境变量 ZHOUBAO_CONFIG 或 ./zhoubao.toml）"
INIT_WRITTEN: Final = (
    "已生成配置文件：{path}\n"
    "请按实际情况修改窗口名单，然后运行 zhoubao run（也可以先用 zhoubao demo 看一遍）。\n"
    "期号：配置文件没有设定 [numbering]，第一期将是开启当年的第1期（总第1期）；"
    "如需接续以往的期号，请去掉 [numbering] 几行开头的 #，填上下一期实际的期号。"
)
INIT_BACKED_UP: Final = "原配置文件已备份为：{backup}"
INIT_FORCE_HELP: Final = "配置文件已存在时也重新生成，原文件先另存为备份"
CONFIG_CREATED: Final = "未找到配置文件，已按默认设置生成：{path}（可随时修改）。"
CHAT_WELCOME: Final = "已以“{name}”的身份连接 zhoubao。直接输入消息后回车；Ctrl-D 退出。"
CHAT_BYE: Final = "再见。"
INVITE_CREATED: Final = (
    "邀请码：{code}\n用途：{place}的{role}，{days} 天内有效，只能使用一次。\n"
    "请让对方把邀请码直接发给机器人（短横线、空格和大小写都可以不管）。\n"
    "邀请码只显示这一次，系统里不保存原文；丢失了请重新生成。"
)
INVITE_OTHER_KEY: Final = (
    "注意：数据库里有 {count} 个尚未使用的邀请码是用另一份 invite.key 生成的，本机无法识别。"
    "几台服务器必须使用同一个 invite.key：请把生成这些邀请码的服务器上的 invite.key "
    "复制到本机的 storage.data_dir 后重启（见 docs/security.md）。"
)
UNKNOWN_WINDOW: Final = "找不到窗口“{name}”。可用的窗口：{names}"
WINDOW_REQUIRED: Final = "报送人员（staff）的邀请码必须用 --window 指定窗口。"
NOT_POSITIVE_INT: Final = "“{value}”不是正整数"
BAD_DATE: Final = "日期“{value}”格式不对，应为 YYYY-MM-DD，例如 2022-09-14。"
ISSUE_OPENED: Final = (
    "已开启 {issue_line}，报送期间{period}，截止时间 {deadline}；已通知 {windows} 个窗口。"
)
ISSUE_OPENED_AHEAD: Final = (
    "已开启 {issue_line}，报送期间{period}，截止时间 {deadline}。\n"
    "{prompt_at} 通知各窗口报送（由 zhoubao run 发送；在此之前窗口也可以主动报送）。"
)
ISSUE_OPENED_PAST: Final = (
    "已补开 {issue_line}，报送期间{period}。\n"
    "这一期的截止时间 {deadline} 已过：没有通知各窗口，zhoubao run 会立即截止并汇编草稿发给编辑。"
)
ISSUE_EXISTS: Final = "这一周的周报已开启：{issue_line}，报送期间{period}。"
DEADLINE_PASSED: Final = (
    "报送期间{period}的截止时间 {deadline} 已过。\n"
    "要补开这一期请加 --past（不通知各窗口，zhoubao run 会立即截止并汇编草稿）；"
    "不加 --date 则开启截止时间未到的一期。"
)
NUMBERS_FIRST: Final = (
    "期号：配置文件没有设定 [numbering]，所以按 {year}年第1期（总第1期）编号。"
    "如需接续以往的期号，请运行 zhoubao issue number --number 期号 --total 总期号。"
)
NUMBERS_OTHER_YEAR: Final = (
    "期号：配置文件 [numbering] 写的是 {conf_year}年第{conf_number}期（总第{conf_total}期），"
    "而这一期属于 {year} 年，所以按 {year}年第1期（总第{total}期）编号。"
    "如需更改，请运行 zhoubao issue number --number 期号 --total 总期号。"
)
NO_ISSUE_YET: Final = (
    "还没有开启任何一期周报。\n"
    "第一期将是 {issue_line}，报送期间{period}，{prompting}，{deadline} 截止"
    "（zhoubao run 运行时自动开启）。也可以现在运行 zhoubao issue open 提前开启。"
)
PROMPT_AT: Final = "{moment} 通知各窗口"
PROMPT_AT_ONCE: Final = "开启后立即通知各窗口"
NO_ISSUE_NO_WEEK: Final = "还没有开启任何一期周报；今后几周都没有工作日，暂不开启。"
RUN_FIRST_ISSUE: Final = (
    "这是第一次运行：现在开启 {issue_line}，报送期间{period}，{prompting}，{deadline} 截止。"
)
NO_WORKING_DAYS: Final = "{day} 所在的一周没有工作日，不开启周报。"
NUMBER_TAKEN: Final = "期号 {numbers} 已被其他一期使用，请换一个。"
ISSUE_RENUMBERED: Final = "当前一期已改为 {issue_line}，以后各期据此顺延。"
DATABASE_UNUSABLE: Final = (
    "配置文件 {path} 有误：storage.url / storage.data_dir：无法打开数据库（{reason}）"
)
INVITE_KEY_UNUSABLE: Final = (
    "邀请码密钥文件无法使用（{reason}）。请从第一台服务器复制 invite.key 到 storage.data_dir，"
    "或删除它让 zhoubao 重新生成（此前生成、尚未使用的邀请码会全部失效）。"
)
NO_ISSUE: Final = "还没有开启过任何一期周报。请先运行 zhoubao issue open。"
DRAFT_WRITTEN: Final = "草稿已生成：\n  Word：{docx}\n  Markdown：{markdown}"
DRAFT_PDF: Final = "  PDF：{pdf}"
# Why `zhoubao draft` wrote no PDF, by handlers.services.issue_draft.NoPdf value.
DRAFT_NO_PDF: Final = {
    "no_office": (
        "  PDF：未生成——本机没有安装 LibreOffice。安装后再运行 zhoubao draft 即可生成 PDF 版"
        "（Debian/Ubuntu：apt install libreoffice-writer-nogui fonts-noto-cjk fonts-arphic-ukai"
        " fonts-arphic-uming）。"
    ),
    "failed": (
        "  PDF：未生成——LibreOffice 没能把草稿排成 PDF（详见日志），请再运行一次 zhoubao draft。"
    ),
}
SILENT_WINDOWS: Final = "未报送的窗口（未列入周报）：{names}"
NONE: Final = "无"
STATUS_CHANNEL: Final = "渠道 {channel}：{status}（{when}）{stale}"
STATUS_STALE: Final = "，这是较早的记录：zhoubao run 可能没有在运行"
CHANNEL_STATES: Final = {
    "running": "运行中",
    "logged_in": "已登录",
    "connecting": "正在连接",
    "connected": "已连接，尚未登录",
    "disconnected": "连接已断开，正在重连",
    "unauthenticated": "令牌被拒绝，请检查后重启",
    "unreachable": "启动时未能取得访问令牌，发送时会重试",
    "stopped": "已停止",
}
STATUS_FAILED_ROW: Final = "  发送失败 {when} {channel}:{chat}：{error}"
STATUS_OUTBOX: Final = "待发消息：排队 {queued}，近 7 天已发送 {sent}，失败 {failed}"
RUN_STARTED: Final = "zhoubao 已启动（数据库 {database}，时区 {zone}）。按 Ctrl-C 停止。"
RUN_STOPPED: Final = "zhoubao 已停止。"
RUN_LISTENING: Final = "网页服务：http://{listen}（/healthz、/readyz、/metrics）"
RUN_CANNOT_LISTEN: Final = (
    "网页服务无法在 {listen} 监听（{reason}）：该端口可能已被占用；"
    "请在配置文件 [server] 中改 listen，或停止占用该端口的程序"
)
# zhoubao calendar: the working days of one year, and where each fact came from
CALENDAR_TITLE: Final = "{year}年工作日历（含配置文件中的 extra_holidays / extra_workdays）"
CALENDAR_SOURCE: Final = "节假日来源：{source}"
CALENDAR_SOURCES: Final = {
    "chinese-calendar": "chinese-calendar 包（国务院放假通知，含调休）",
    "holidays": "holidays 包（国务院放假通知，含调休）",
    "holidays-statutory": "holidays 包（法定节假日及其补假，调休未公布）",
    "weekdays": "无（没有该年的节假日数据，按周一至周五上班）",
}
CALENDAR_LINE_SOURCES: Final = {
    "chinese-calendar": "chinese-calendar",
    "holidays": "holidays 包",
    "holidays-statutory": "holidays 包",
    "extra_holidays": "配置 extra_holidays",
    "extra_workdays": "配置 extra_workdays",
    "weekdays": "周一至周五",
}
CALENDAR_MAKE_UP_UNKNOWN: Final = (
    "注意：{year}年的调休安排尚未收录，下面只有法定节假日及其补假，没有调休上班日，"
    "也没有因调休多放的假。国务院办公厅的放假通知发布后，请把调休上班日写入 [schedule] 的 "
    "extra_workdays、多放的假写入 extra_holidays（或升级 chinese-calendar / holidays 包）。"
)
CALENDAR_NO_DATA: Final = (
    "注意：没有{year}年的节假日数据，除配置的日期外一律按周一至周五上班。"
    "请把该年的节假日和调休上班日写入 [schedule] 的 extra_holidays / extra_workdays。"
)
CALENDAR_TOTAL: Final = (
    "全年工作日 {count} 天。下面是每月的工作日数，以及与“周一至周五上班、周末休息”"
    "不同的日子和配置文件指定的日子。"
)
CALENDAR_MONTH: Final = "{month}月：工作日 {count} 天"
CALENDAR_DAY_OFF: Final = "  {day}（{weekday}）放假{name}。来源：{source}"
CALENDAR_DAY_WORKED: Final = "  {day}（{weekday}）上班{name}。来源：{source}"
CALENDAR_MAKE_UP: Final = "调休"
CALENDAR_NO_ISSUE_WEEKS: Final = "整周没有工作日、不开启周报的周：{weeks}"
CALENDAR_WEEKDAYS: Final = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
BAD_YEAR: Final = "年份“{value}”不对，应为四位数的年份，例如 2027。"
DEMO_START: Final = "演示：在临时目录 {path} 中模拟一周的报送。"
DEMO_DONE: Final = "演示完成，用时 {seconds:.1f} 秒。"
INTERRUPTED: Final = "已中断。"
INTERNAL_ERROR: Final = (
    "出现内部错误（{error}）。设置环境变量 ZHOUBAO_LOG_LEVEL=DEBUG 后重试可查看详细信息。"
)
DATA_DIR_WRITABLE: Final = (
    "数据目录 {path} 的权限是 {mode}，同组用户或其他用户可以写入，zhoubao 不能在这里保存数据。"
    "请运行 chmod 700 {path}（并确认目录属于运行 zhoubao 的用户）后重试。"
)
DATA_DIR_UNUSABLE: Final = (
    "无法使用数据目录 {path}（{reason}）。请检查配置文件的 storage.data_dir。"
)
NOT_A_DIRECTORY: Final = "这不是一个目录"
NO_PERMISSION: Final = "没有权限"
