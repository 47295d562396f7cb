"""zhoubao's logging (`bot.logs`): fields kept, secrets and texts kept out, whatever the logger.

Each test sets logging up on a stream of its own (`configured(environ, stream)`), logs through
the loggers the libraries use, and reads the lines that came out.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot import logs
from bot.config import load_config
from storage.database import create_engine
from tests.fakes import write_reference_config

TOKEN = "7501234567:AAHk3-Ms_9qL0vPzYx2Wc4EoRtNnBgUiDfA"  # shaped like BotFather's
SECRET = "Webhook_s3cret-0123456789"
WECHAT = "puppet_workpro_5f2c9e1a"
ITEM = "商务厅窗口推广电子营业执照应用，企业办事无需另行提交纸质营业执照。"
ENVIRON = {
    "ZHOUBAO_LOG_LEVEL": "DEBUG",
    "ZHOUBAO_TELEGRAM_TOKEN": TOKEN,
    "ZHOUBAO_TELEGRAM_WEBHOOK_SECRET": SECRET,
}


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The log of a zhoubao process at DEBUG with a token and a webhook secret set."""
    stream = io.StringIO()
    with logs.configured(ENVIRON, stream):
        yield stream


def test_token_is_redacted_when_httpx_logs_a_bot_api_url(lines: io.StringIO) -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST", url, "HTTP/1.1 200 OK")
    out = lines.getvalue()
    assert "HTTP Request: POST https://api.telegram.org/bot<redacted>/getUpdates" in out
    assert TOKEN not in out and TOKEN.split(":")[1] not in out


def test_any_token_shaped_string_is_redacted_when_it_was_never_configured() -> None:
    other = "123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef012"
    stream = io.StringIO()
    with logs.configured({}, stream):
        logging.getLogger("httpcore").warning("connect to /bot%s/getMe failed", other)
        logging.getLogger("aiohttp.client").warning("percent-encoded bot123456789%3A" + other[10:])
    assert "ABCDEFGHIJ" not in stream.getvalue()
    assert stream.getvalue().count("<redacted>") == 2


def test_secrets_are_redacted_in_message_exception_stack_and_fields(lines: io.StringIO) -> None:
    try:
        raise RuntimeError(f"setWebhook refused secret {SECRET}")
    except RuntimeError:
        logging.getLogger("telegram.ext.Updater").error(
            "webhook for %s failed", TOKEN, exc_info=True, stack_info=True, extra={"url": TOKEN}
        )
    out = lines.getvalue()
    assert "Traceback" in out and "RuntimeError: setWebhook refused secret <redacted>" in out
    assert "url=<redacted>" in out
    assert TOKEN not in out and SECRET not in out


def test_extra_fields_are_appended_as_key_value(lines: io.StringIO) -> None:
    logging.getLogger("bot.engine").info(
        "update failed", extra={"update_id": 42, "state": "intake.text", "note": "two words"}
    )
    line = lines.getvalue().strip()
    assert line.endswith(
        'INFO bot.engine: update failed update_id=42 state=intake.text note="two words"'
    )


def test_access_log_fields_are_not_repeated_when_the_line_holds_them(lines: io.StringIO) -> None:
    logging.getLogger("aiohttp.access").info(
        '"POST /telegram/webhook HTTP/1.1" 200', extra={"response_status": 200}
    )
    assert lines.getvalue().rstrip().endswith('"POST /telegram/webhook HTTP/1.1" 200')


def test_payload_loggers_stay_quiet_at_debug_when_they_would_log_texts(lines: io.StringIO) -> None:
    # python-telegram-bot logs each call's parameters at DEBUG; SQLAlchemy each row.
    logging.getLogger("telegram.ext.ExtBot").debug("Calling `sendMessage` with `%s`", ITEM)
    logging.getLogger("sqlalchemy.engine.Engine").info("Row (%r,)", ITEM)
    logging.getLogger("sqlalchemy.engine.Engine").debug("Row (%r,)", ITEM)
    logging.getLogger("aiosqlite").debug("executing %s", ITEM)
    logging.getLogger("telegram.ext.Application").info("Application started")
    logging.getLogger("bot.runner").debug("tick")
    out = lines.getvalue()
    assert ITEM not in out
    assert "Application started" in out and "tick" in out


def test_asyncpg_value_is_cut_when_its_error_quotes_one(lines: io.StringIO) -> None:
    quoted = f"invalid input for query argument $3: '{ITEM[:20]}...' (surrogates not allowed)"
    logging.getLogger("bot.engine").error("update failed: %s", quoted)
    out = lines.getvalue()
    assert "invalid input for query argument $3: <redacted>" in out
    assert ITEM[:5] not in out


def test_level_comes_from_environment_and_everything_is_put_back_afterwards() -> None:
    root = logging.getLogger()
    watched = ("telegram", "sqlalchemy", "httpx")
    before = (root.level, list(root.handlers), [logging.getLogger(n).level for n in watched])
    stream = io.StringIO()
    with logs.configured({"ZHOUBAO_LOG_LEVEL": "info"}, stream):
        assert root.level == logging.INFO
        assert logging.getLogger("telegram").level == logging.INFO
        assert logging.getLogger("sqlalchemy").level == logging.WARNING
        logging.getLogger("bot.runner").debug("not shown")
        logging.getLogger("httpx").info("not shown: a poll")
        logging.getLogger("bot.runner").info("shown")
    after = (root.level, list(root.handlers), [logging.getLogger(n).level for n in watched])
    assert after == before
    assert "shown" in stream.getvalue() and "not shown" not in stream.getvalue()


def test_unknown_level_falls_back_to_warning_with_a_warning() -> None:
    stream = io.StringIO()
    with logs.configured({"ZHOUBAO_LOG_LEVEL": "LOUD"}, stream):
        logging.getLogger("bot.runner").info("not shown")
    assert "unknown log level, using WARNING variable=ZHOUBAO_LOG_LEVEL" in stream.getvalue()
    assert "not shown" not in stream.getvalue()


def test_host_program_handlers_get_the_filter_when_logging_is_already_set_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Inside a program with its own handlers (here pytest's), none is added; theirs redact too.
    with logs.configured(ENVIRON):
        logging.getLogger("httpx").warning("POST /bot%s/getMe", TOKEN)
    assert caplog.messages == ["POST /bot<redacted>/getMe"]


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = logs.Redactor()
    redactor.add(["abc", "", "abcd"])
    assert redactor("abc abcd") == "abc <redacted>"


def test_secrets_of_reads_the_variables_and_token_file_the_configuration_names(
    tmp_path: Path,
) -> None:
    path = tmp_path / "zhoubao.toml"
    write_reference_config(path)
    (tmp_path / "token").write_text(TOKEN + "\n", "utf-8")
    config_text = path.read_text("utf-8").replace(
        "[channels.telegram]\nenabled = false",
        '[channels.telegram]\nenabled = false\ntoken_file = "token"\n'
        'webhook_secret_env = "MY_SECRET"',
    )
    config_text = config_text.replace('token_env = "ZHOUBAO_WECHAT_TOKEN"', 'token_env = "WX"')
    path.write_text(config_text, "utf-8")
    config = load_config(path)
    environ = {"MY_SECRET": SECRET, "WX": WECHAT, "ZHOUBAO_WECHAT_TOKEN": "not this one"}
    assert sorted(logs.secrets_of(config, environ)) == sorted([TOKEN, SECRET, WECHAT])


async def test_statement_parameters_stay_out_of_errors_and_logs(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(db_url)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            async with engine.connect() as connection:
                with pytest.raises(DBAPIError) as raised:
                    await connection.execute(
                        text("SELECT * FROM nowhere WHERE t = :t"), {"t": ITEM}
                    )
    finally:
        await engine.dispose()
    assert "SQL parameters hidden" in str(raised.value)
    assert ITEM not in str(raised.value) and ITEM not in caplog.text
    assert "SELECT * FROM nowhere" in caplog.text  # the statement itself is logged


async def test_text_stays_out_of_the_log_when_postgresql_cannot_encode_it(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("asyncpg's own message quotes the value")
    engine = create_engine(db_url)
    stream = io.StringIO()
    try:
        with logs.configured({}, stream):
            async with engine.connect() as connection:
                try:
                    await connection.execute(text("SELECT :t"), {"t": "\udc80" + ITEM})
                except DBAPIError:
                    logging.getLogger("bot.engine").exception("update failed")
    finally:
        await engine.dispose()
    out = stream.getvalue()
    assert "invalid input for query argument $1: <redacted>" in out
    assert ITEM[:5] not in out


def test_secrets_of_reads_the_wecom_and_dingtalk_variables(tmp_path: Path) -> None:
    path = tmp_path / "zhoubao.toml"
    write_reference_config(path)
    config = load_config(path)
    environ = {
        "ZHOUBAO_WECOM_SECRET": "wecom-secret-value",
        "ZHOUBAO_WECOM_CALLBACK_TOKEN": "wecom-callback-token",
        "ZHOUBAO_WECOM_AES_KEY": "wecom-encoding-aes-key",
        "ZHOUBAO_DINGTALK_APP_SECRET": "dingtalk-app-secret",
    }
    assert sorted(logs.secrets_of(config, environ)) == sorted(environ.values())
