"""`zhoubao run` as a real process serving WeCom (its callback URL on zhoubao's web server)
and DingTalk (Stream mode) against the loopback peers: a staff member binds on each, and
`zhoubao status` shows both channels running. No secret reaches the output."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from handlers import messages
from tests.bot.channels.dingtalk_server import APP_KEY, APP_SECRET, DingtalkServer
from tests.bot.channels.test_run_telegram import _wait_for, _zhoubao, free_port, with_listen
from tests.bot.channels.wecom_server import (
    AGENT_ID,
    CALLBACK_TOKEN,
    CORP_ID,
    ENCODING_AES_KEY,
    SECRET,
    WecomServer,
)


def _config(tmp_path: Path, wecom: WecomServer, dingtalk: DingtalkServer) -> Path:
    from bot.config import write_default_config

    path = tmp_path / "zhoubao.toml"
    write_default_config(path)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(
            f'\n[channels.wecom]\nenabled = true\ncorp_id = "{CORP_ID}"\nagent_id = {AGENT_ID}\n'
            f'base_url = "{wecom.base_url}"\n'
            f'\n[channels.dingtalk]\nenabled = true\napp_key = "{APP_KEY}"\n'
            f'api_url = "{dingtalk.base_url}"\noapi_url = "{dingtalk.base_url}"\n'
        )
    return with_listen(path, free_port())


async def _code(config: Path) -> str:
    invite = await _zhoubao(config, "invite", "--window", "商务厅", "--role", "staff")
    out, err = await invite.communicate()
    assert invite.returncode == 0, err.decode()
    return out.decode().split("\n")[0].split("：")[1]


async def test_staff_bind_on_wecom_and_dingtalk_when_zhoubao_run_serves_them(
    tmp_path: Path,
) -> None:
    async with WecomServer() as wecom, DingtalkServer() as dingtalk:
        config = _config(tmp_path, wecom, dingtalk)
        port = int(config.read_text("utf-8").split('listen = "127.0.0.1:', 1)[1].split('"')[0])
        wecom_code, dingtalk_code = await _code(config), await _code(config)
        secrets = {
            "ZHOUBAO_WECOM_SECRET": SECRET,
            "ZHOUBAO_WECOM_CALLBACK_TOKEN": CALLBACK_TOKEN,
            "ZHOUBAO_WECOM_AES_KEY": ENCODING_AES_KEY,
            "ZHOUBAO_DINGTALK_APP_SECRET": APP_SECRET,
        }
        run = await _zhoubao(config, "run", **secrets)
        try:
            url = f"http://127.0.0.1:{port}/wecom/callback"

            message = wecom.text_message("LiSi", wecom_code)
            # 503 until the process holds the lease and has started its channels (as a
            # standby answers): WeCom sends the callback again, as this loop does.
            for _ in range(400):
                try:
                    if (await wecom.post_callback(url, message))[0] == 200:
                        break
                except OSError:
                    pass  # the web server is not listening yet
                await asyncio.sleep(0.05)
            await _wait_for(lambda: any(b["touser"] == "LiSi" for b in wecom.sent), 20)
            first = next(b for b in wecom.sent if b["touser"] == "LiSi")
            assert first["text"]["content"] == messages.bound("商务厅窗口", "staff")

            await dingtalk.wait_connections(1)
            frame = await dingtalk.push_text("staff0001", dingtalk_code)
            await dingtalk.wait_ack(frame)
            await _wait_for(lambda: any("staff0001" in b["userIds"] for b in dingtalk.sent), 20)
            first = next(b for b in dingtalk.sent if "staff0001" in b["userIds"])
            assert first["msgParam"]["content"] == messages.bound("商务厅窗口", "staff")

            # The service records each channel's state every 10 s.
            for _ in range(30):
                shown = await _zhoubao(config, "status")
                out, err = await shown.communicate()
                assert shown.returncode == 0, err.decode()
                text = out.decode()
                if "渠道 wecom：运行中" in text and "渠道 dingtalk：运行中" in text:
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(text)
        finally:
            run.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(run.communicate(), 30)
        assert run.returncode == 0, err.decode()
        output = out.decode() + err.decode()
        for secret in secrets.values():
            assert secret not in output
