"""The sections of the file about the networks: [channels] and [server].

Secrets are never in the file: a channel's token comes from the environment or a file of its
own, and a key that looks like a secret is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bot.config import messages
from bot.config.fields import EnvName, Problem, Section, StrictBool, Text, resolve_path

# Keys that would hold a secret; channel secrets come from token_env / token_file only.
SECRET_KEYS: Final = frozenset({"token", "secret", "password", "api_key"})


# --- [channels] ----------------------------------------------------------------------------


class ConsoleChannelConfig(Section):
    """The local console chat (`[channels.console]`)."""

    enabled: StrictBool = True


class TelegramChannelConfig(Section):
    """Telegram (`[channels.telegram]`); the bot token comes from the environment or a file."""

    enabled: StrictBool = False
    token_env: EnvName = "ZHOUBAO_TELEGRAM_TOKEN"
    token_file: Path | None = None  # read instead of token_env when set
    mode: Literal["polling", "webhook"] = "polling"
    # Webhook mode: Telegram POSTs updates to webhook_url, which a reverse proxy forwards to
    # zhoubao's own web server at `listen`, path `webhook_path`. The secret Telegram sends
    # back in a header comes from the environment variable named by webhook_secret_env.
    webhook_url: Text | None = None  # public https URL
    webhook_secret_env: EnvName = "ZHOUBAO_TELEGRAM_WEBHOOK_SECRET"
    listen: Text = "127.0.0.1:8080"  # host:port of zhoubao's web server
    # The Bot API server: Telegram's, or a self-hosted telegram-bot-api server.
    api_url: Text = "https://api.telegram.org"
    webhook_path: Text = "/telegram/webhook"

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^\s/?#]+(/\S*)?", value):
            raise Problem(messages.WEBHOOK_URL)
        return value

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+", value):
            raise Problem(messages.BAD_API_URL)
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return _check_listen_value(value)

    @field_validator("webhook_path")
    @classmethod
    def _check_webhook_path(cls, value: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9_\-./]*", value):
            raise Problem(messages.WEBHOOK_PATH)
        return value

    @model_validator(mode="after")
    def _check_webhook(self) -> TelegramChannelConfig:
        if self.enabled and self.mode == "webhook" and self.webhook_url is None:
            raise Problem(messages.WEBHOOK_URL_REQUIRED, ("webhook_url",))
        return self

    @field_validator("token_file", mode="before")
    @classmethod
    def _resolve_token_file(cls, value: object, info: ValidationInfo) -> object:
        if value == "":
            raise Problem(messages.EMPTY)
        return resolve_path(value, info)


class WechatChannelConfig(Section):
    """WeChat through a Wechaty puppet service (`[channels.wechat]`)."""

    enabled: StrictBool = False
    endpoint: Text | None = None  # host:port of the puppet service
    token_env: EnvName = "ZHOUBAO_WECHAT_TOKEN"
    # Group chats: answer only when the bot is @-mentioned, answer every message, or ignore them.
    rooms: Literal["mention", "all", "ignore"] = "mention"

    @model_validator(mode="after")
    def _check_endpoint(self) -> WechatChannelConfig:
        if self.enabled and self.endpoint is None:
            raise Problem(messages.ENDPOINT_REQUIRED, ("endpoint",))
        return self


class WecomChannelConfig(Section):
    """WeCom (企业微信, 政务微信) self-built application (`[channels.wecom]`).

    The application's secret, the callback's Token and EncodingAESKey come from the
    environment variables named here, never from the file.
    """

    enabled: StrictBool = False
    corp_id: Text | None = None  # 企业ID
    agent_id: int | None = Field(default=None, ge=1, strict=True)  # the application's AgentId
    secret_env: EnvName = "ZHOUBAO_WECOM_SECRET"
    callback_token_env: EnvName = "ZHOUBAO_WECOM_CALLBACK_TOKEN"
    aes_key_env: EnvName = "ZHOUBAO_WECOM_AES_KEY"
    # The server API: WeCom's, or a private deployment's (政务微信, a provincial cloud).
    base_url: Text = "https://qyapi.weixin.qq.com"
    callback_path: Text = "/wecom/callback"  # served on [server] listen

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return _check_base_url_value(value)

    @field_validator("callback_path")
    @classmethod
    def _check_callback_path(cls, value: str) -> str:
        return _check_path_value(value)

    @model_validator(mode="after")
    def _check_required(self) -> WecomChannelConfig:
        if self.enabled and self.corp_id is None:
            raise Problem(messages.WECOM_REQUIRED, ("corp_id",))
        if self.enabled and self.agent_id is None:
            raise Problem(messages.WECOM_REQUIRED, ("agent_id",))
        return self


class DingtalkChannelConfig(Section):
    """DingTalk (钉钉, 专有钉钉) internal application robot (`[channels.dingtalk]`).

    The AppSecret comes from the environment variable named by `app_secret_env`.
    """

    enabled: StrictBool = False
    app_key: Text | None = None  # AppKey (Client ID)
    robot_code: Text | None = None  # the robot's code; the AppKey when empty
    app_secret_env: EnvName = "ZHOUBAO_DINGTALK_APP_SECRET"
    mode: Literal["stream", "callback"] = "stream"
    # Group chats: answer only when the robot is @-mentioned (DingTalk delivers only those),
    # or ignore group chats.
    groups: Literal["mention", "ignore"] = "mention"
    api_url: Text = "https://api.dingtalk.com"
    oapi_url: Text = "https://oapi.dingtalk.com"
    callback_path: Text = "/dingtalk/callback"  # callback mode, served on [server] listen

    @field_validator("api_url", "oapi_url")
    @classmethod
    def _check_urls(cls, value: str) -> str:
        return _check_base_url_value(value)

    @field_validator("callback_path")
    @classmethod
    def _check_callback_path(cls, value: str) -> str:
        return _check_path_value(value)

    @model_validator(mode="after")
    def _check_required(self) -> DingtalkChannelConfig:
        if self.enabled and self.app_key is None:
            raise Problem(messages.DINGTALK_REQUIRED, ("app_key",))
        return self


def _check_base_url_value(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise Problem(messages.BAD_BASE_URL)
    return value.rstrip("/")


def _check_path_value(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9_\-./]*", value):
        raise Problem(messages.WEBHOOK_PATH)
    return value


# --- [server] ------------------------------------------------------------------------------

DEFAULT_LISTEN: Final = "127.0.0.1:8080"


def _check_listen_value(value: str) -> str:
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", value)
    if match is None or not 0 < int(match[2]) < 65536:
        raise Problem(messages.LISTEN)
    return value


class ServerConfig(Section):
    """zhoubao's web server (`[server]`): the Telegram webhook, /healthz, /readyz, /metrics.

    `zhoubao run` always serves it. `listen` absent: `[channels.telegram] listen`, where the
    address was set before the server served more than the webhook (127.0.0.1:8080 by default).
    """

    listen: Text | None = None

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        return None if value is None else _check_listen_value(value)


def _find_secret(data: object, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Return the location of the first secret-looking key in `data`, if any."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and (key in SECRET_KEYS or key.endswith("_token")):
                return (*loc, key)
            found = _find_secret(value, (*loc, key))
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _find_secret(value, (*loc, index))
            if found is not None:
                return found
    return None


class ChannelsConfig(Section):
    """Which channels run (`[channels]`). Secrets are never in the file."""

    console: ConsoleChannelConfig = Field(default_factory=ConsoleChannelConfig)
    telegram: TelegramChannelConfig = Field(default_factory=TelegramChannelConfig)
    wechat: WechatChannelConfig = Field(default_factory=WechatChannelConfig)
    wecom: WecomChannelConfig = Field(default_factory=WecomChannelConfig)
    dingtalk: DingtalkChannelConfig = Field(default_factory=DingtalkChannelConfig)

    @model_validator(mode="before")
    @classmethod
    def _reject_secrets(cls, data: Any) -> Any:
        found = _find_secret(data)
        if found is not None:
            raise Problem(messages.SECRET_IN_FILE, found)
        return data

    @model_validator(mode="after")
    def _check_any_enabled(self) -> ChannelsConfig:
        if not any(
            section.enabled
            for section in (self.console, self.telegram, self.wechat, self.wecom, self.dingtalk)
        ):
            raise Problem(messages.NO_CHANNEL)
        return self
