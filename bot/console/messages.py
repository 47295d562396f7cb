"""What the console's login says, in Simplified Chinese."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
WRONG_LOGIN: Final = "账号或密码不正确，请重新输入。"


def locked_until(moment: datetime) -> str:
    shown = moment.astimezone(SHANGHAI).strftime("%H:%M")
    return f"登录失败次数过多，请于{shown}之后再试。"


def password_too_short(minimum: int) -> str:
    return f"密码至少需要{minimum}个字符。"


def password_too_long(maximum: int) -> str:
    return f"密码不能超过{maximum}个字符。"
