"""Administrator-facing wording of the Telegram channel's setup errors (Chinese)."""

from __future__ import annotations

from typing import Final

MSG_NO_TOKEN: Final = (
    "未找到 Telegram 机器人令牌：请设置环境变量 {env}，或在配置中用 token_file 指定令牌文件"
)
MSG_TOKEN_FILE_UNREADABLE: Final = "Telegram 令牌文件 {path} 无法读取或为空"
MSG_NO_WEBHOOK_SECRET: Final = (
    "webhook 模式需要密钥：请设置环境变量 {env}（1 至 256 个英文字母、数字、_ 或 -）"
)
MSG_BAD_WEBHOOK_SECRET: Final = (
    "环境变量 {env} 中的 webhook 密钥只能含 1 至 256 个英文字母、数字、_ 或 -"
)
