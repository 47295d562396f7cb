"""Which channels `zhoubao run` connects, built from the configuration, and its web server
(the Telegram webhook, and /healthz, /readyz, /metrics: `bot.observe`)."""

from __future__ import annotations

from aiohttp import web

from bot.app import App
from bot.channels import webhook
from bot.channels.base import Channel
from bot.channels.cursor_store import DatabaseCursors
from bot.observe import observe_routes
from bot.ratelimit import DINGTALK_LIMITS, TELEGRAM_LIMITS, WECOM_LIMITS, Limits
from bot.runner import Service
from handlers.types import ChannelKind


def build_channels(app: App) -> dict[ChannelKind, Channel]:
    """The networked channels enabled in `[channels]`; secrets come from the environment.

    The console is not among them: `zhoubao chat` terminals deliver their own messages.
    """
    config = app.config.channels
    channels: dict[ChannelKind, Channel] = {}
    if config.telegram.enabled:
        from bot.channels.telegram import TelegramChannel

        channels[ChannelKind.TELEGRAM] = TelegramChannel.from_config(
            config.telegram, clock=app.clock, cursors=DatabaseCursors(app.sessions, app.clock)
        )
    if config.wechat.enabled:
        # Imported only when enabled: the WeChat client is an optional extra (zhoubao[wechat]).
        from bot.channels.wechaty import WechatChannel

        channels[ChannelKind.WECHAT] = WechatChannel.from_config(config.wechat, clock=app.clock)
    if config.wecom.enabled:
        # Imported only when enabled: its crypto needs `cryptography` (zhoubao[wecom]).
        from bot.channels.wecom import WecomChannel

        channels[ChannelKind.WECOM] = WecomChannel.from_config(config.wecom, clock=app.clock)
    if config.dingtalk.enabled:
        from bot.channels.dingtalk import DingtalkChannel

        channels[ChannelKind.DINGTALK] = DingtalkChannel.from_config(
            config.dingtalk, clock=app.clock
        )
    return channels


def channel_limits() -> dict[ChannelKind, Limits]:
    """Each channel's published sending limits (Telegram: ~30 a second, 1 a second per chat;
    WeCom: 30 a minute to one member)."""
    return {
        ChannelKind.TELEGRAM: TELEGRAM_LIMITS,
        ChannelKind.WECOM: WECOM_LIMITS,
        ChannelKind.DINGTALK: DINGTALK_LIMITS,
    }


def web_application(
    app: App, channels: dict[ChannelKind, Channel], service: Service
) -> web.Application:
    """zhoubao's web server: /healthz, /readyz and /metrics always, the Telegram webhook in
    webhook mode, WeCom's callback URL when WeCom is enabled, DingTalk's in callback mode."""
    # The webhook route reads its body within its own bounds; this caps any other reader too.
    application = web.Application(client_max_size=webhook.MAX_BODY)
    application.add_routes(observe_routes(service))
    telegram = app.config.channels.telegram
    channel = channels.get(ChannelKind.TELEGRAM)
    if channel is not None and telegram.mode == "webhook":
        from bot.channels.telegram import TelegramChannel

        assert isinstance(channel, TelegramChannel)
        application.add_routes(channel.webhook_routes(telegram.webhook_path))
    wecom = channels.get(ChannelKind.WECOM)
    if wecom is not None:
        from bot.channels.wecom import WecomChannel

        assert isinstance(wecom, WecomChannel)
        application.add_routes(wecom.callback_routes(app.config.channels.wecom.callback_path))
    dingtalk = channels.get(ChannelKind.DINGTALK)
    if dingtalk is not None and app.config.channels.dingtalk.mode == "callback":
        from bot.channels.dingtalk import DingtalkChannel

        assert isinstance(dingtalk, DingtalkChannel)
        application.add_routes(dingtalk.callback_routes(app.config.channels.dingtalk.callback_path))
    return application


def web_runner(application: web.Application) -> web.AppRunner:
    """The runner of zhoubao's web server, with the limits of `bot.channels.webhook`."""
    return web.AppRunner(application, **webhook.server_options())


def listen_address(app: App) -> tuple[str, int]:
    host, _, port = app.config.listen.rpartition(":")
    return host.strip("[]"), int(port)
