"""The deployment files: the systemd units verify, the example configuration loads, and the
compose file, Dockerfile, secrets example and reverse proxy examples agree with zhoubao and
with each other.

Tools that may be missing are skipped with the reason: systemd-analyze (Debian: systemd),
PyYAML, nginx and caddy. A Docker engine is never needed (none runs in CI).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.config import load_config

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY_ROOT / "deploy"
ZHOUBAO_BIN = "/opt/zhoubao/.venv/bin/zhoubao"
BACKUP_BIN = "/opt/zhoubao/src/deploy/backup.sh"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


# --- systemd --------------------------------------------------------------------------------


def _unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _verify(*units: Path) -> list[str]:
    """Run systemd-analyze verify; return its complaints about our units."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    result = subprocess.run(
        [analyze, "verify", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # It also checks the units ours refer to (network-online.target …), which may produce
    # noise on a machine where systemd is not PID 1; only lines about ours count.
    lines = (result.stdout + result.stderr).splitlines()
    ours = [line for line in lines if "zhoubao" in line]
    assert result.returncode == 0 or ours, result.stdout + result.stderr
    return ours


def _executable_stand_in() -> str:
    """An executable that exists here, for ExecStart (see the tests below)."""
    candidate = Path(sys.executable).parent / "zhoubao"  # this venv's zhoubao, if installed
    if candidate.is_file() and " " not in str(candidate):
        return str(candidate)
    true = shutil.which("true")
    assert true is not None
    return true


def test_service_unit_verifies(tmp_path: Path) -> None:
    # systemd-analyze verify rejects an ExecStart whose program does not exist, and
    # /opt/zhoubao is only there on a real server. So verify a copy whose ExecStart names an
    # executable that exists here, arguments unchanged: everything else is checked as written.
    original = DEPLOY / "zhoubao.service"
    assert [line for line in _verify(original) if "is not executable" not in line] == []
    copy = tmp_path / "zhoubao.service"
    text = original.read_text(encoding="utf-8")
    assert text.count(ZHOUBAO_BIN) == 1
    copy.write_text(text.replace(ZHOUBAO_BIN, _executable_stand_in()), encoding="utf-8")
    assert _verify(copy) == []


def test_backup_units_verify(tmp_path: Path) -> None:
    # As above: ExecStart of the copy points at this checkout's backup.sh.
    for name in ("zhoubao-backup.service", "zhoubao-backup.timer"):
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(BACKUP_BIN, str(DEPLOY / "backup.sh")))
    assert _verify(tmp_path / "zhoubao-backup.timer", tmp_path / "zhoubao-backup.service") == []


def test_service_unit_runs_zhoubao_as_its_own_user_with_restart_and_hardening() -> None:
    unit = _unit_settings(DEPLOY / "zhoubao.service")
    assert unit["ExecStart"] == [f"{ZHOUBAO_BIN} --config /etc/zhoubao/zhoubao.toml run"]
    assert unit["User"] == ["zhoubao"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["RestartSec"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["TimeoutStopSec"]
    assert unit["EnvironmentFile"] == ["-/etc/zhoubao/zhoubao.env"]
    assert unit["WorkingDirectory"] == ["/var/lib/zhoubao"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ReadWritePaths"] == ["/var/lib/zhoubao"]
    for setting in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert unit[setting] == ["yes"], setting
    backup = _unit_settings(DEPLOY / "zhoubao-backup.service")
    assert backup["User"] == ["zhoubao"]
    assert backup["EnvironmentFile"] == unit["EnvironmentFile"]
    assert backup["ExecStart"][0].startswith(f"{BACKUP_BIN} --config /etc/zhoubao/zhoubao.toml ")


# --- configuration and secrets --------------------------------------------------------------


def test_production_example_changes_only_storage_server_and_channels() -> None:
    example = tomllib.loads(
        (DEPLOY / "zhoubao.production.toml.example").read_text(encoding="utf-8")
    )
    assert set(example) == {"storage", "server", "channels"}


def test_production_example_loads_with_zhoubao(
    write_production_config: Callable[..., Path],
) -> None:
    config = load_config(write_production_config())
    url = make_url(config.storage.url)
    assert url.drivername == "postgresql+asyncpg"
    assert url.password is None
    assert (url.username, url.database) == ("zhoubao", "zhoubao")
    assert config.storage.data_dir == Path("/var/lib/zhoubao")
    assert config.channels.telegram.enabled
    assert config.channels.telegram.mode == "webhook"
    assert config.listen == "127.0.0.1:8080"  # the proxies' upstream


def test_env_example_holds_the_secrets_the_configuration_names(
    write_production_config: Callable[..., Path],
) -> None:
    config = load_config(write_production_config())
    variables = {}
    for line in (DEPLOY / "zhoubao.env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            # The plain KEY=value form that both systemd and docker compose read alike.
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s\"']*", line), line
            key, _, value = line.partition("=")
            variables[key] = value
    assert config.channels.telegram.token_env in variables
    assert config.channels.telegram.webhook_secret_env in variables
    assert "PGPASSWORD" in variables
    postgres_env = (DEPLOY / "postgres.env.example").read_text(encoding="utf-8")
    assert re.search(r"(?m)^POSTGRES_PASSWORD=\S+$", postgres_env)


# --- container ------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_runs_zhoubao_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert all(rest.startswith("python:3.11-slim") for rest in froms)
    last = {keyword: rest for keyword, rest in instructions}  # the final stage's settings
    assert json.loads(last["ENTRYPOINT"]) == ["zhoubao"]
    assert json.loads(last["CMD"]) == ["run"]
    assert last["USER"] not in ("root", "0")
    assert "/var/lib/zhoubao" in last["VOLUME"]
    assert "ZHOUBAO_CONFIG=/etc/zhoubao/zhoubao.toml" in last["ENV"]
    # Every file copied from the build context exists in the repository.
    for keyword, rest in instructions:
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (REPOSITORY_ROOT / source).exists(), source


def test_compose_file_runs_zhoubao_after_a_healthy_postgres() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    services = compose["services"]
    postgres, zhoubao = services["postgres"], services["zhoubao"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    assert postgres["env_file"] == ["postgres.env"]
    assert zhoubao["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "./zhoubao.toml:/etc/zhoubao/zhoubao.toml:ro" in zhoubao["volumes"]
    assert zhoubao["env_file"] == ["zhoubao.env"]
    probe = " ".join(zhoubao["healthcheck"]["test"])
    assert "http://127.0.0.1:8080/readyz" in probe
    assert zhoubao["ports"] == ["127.0.0.1:8080:8080"]  # never on a public address
    assert (DEPLOY / zhoubao["build"]["context"] / zhoubao["build"]["dockerfile"]).is_file()
    for env_file in (*postgres["env_file"], *zhoubao["env_file"]):
        assert (DEPLOY / f"{env_file}.example").is_file()


# --- reverse proxy --------------------------------------------------------------------------


def test_caddyfile_is_valid(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian package: caddy)")
    caddyfile = tmp_path / "Caddyfile"
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    caddyfile.write_text(text.replace("/var/log/caddy/", f"{tmp_path}/"), encoding="utf-8")
    environment = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin"}
    result = subprocess.run(
        [caddy, "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    formatted = subprocess.run(
        [caddy, "fmt", str(DEPLOY / "Caddyfile")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )
    assert formatted.stdout == text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Echo(BaseHTTPRequestHandler):
    """Stands in for zhoubao's web server: answers with what it received."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps(
            {
                "path": self.path,
                "secret": self.headers.get(SECRET_HEADER),
                "host": self.headers.get("Host"),
                "proto": self.headers.get("X-Forwarded-Proto"),
                "body": self.rfile.read(length).decode(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_backend() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_nginx_passes_the_webhook_secret_to_zhoubao_over_tls(
    tmp_path: Path, echo_backend: int
) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None
    )
    openssl = shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx or openssl is not installed (Debian packages: nginx, openssl)")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=zhoubao.example.org", "-keyout", str(tmp_path / "privkey.pem"),
         "-out", str(tmp_path / "fullchain.pem")],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    https_port, http_port = _free_port(), _free_port()
    site = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    # The example as written, moved to this test's ports, certificate and log files.
    for old, new in (
        ("/etc/letsencrypt/live/zhoubao.example.org/", f"{tmp_path}/"),
        ("/var/log/nginx/", f"{tmp_path}/"),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{echo_backend};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    site = re.sub(r"(?m)^\s*listen \[::\]:.*$", "", site)
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\nmaster_process off;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    command = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run(
        [*command, "-t", "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen(
        [*command, "-e", str(tmp_path / "error.log")], stderr=subprocess.DEVNULL
    )
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "fullchain.pem"))
        context.check_hostname = False
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

        def fetch(path: str, data: bytes | None = None, **headers: str) -> dict[str, Any]:
            request = urllib.request.Request(
                f"https://127.0.0.1:{https_port}{path}",
                data=data,
                headers={"Host": "zhoubao.example.org", **headers},
            )
            for _ in range(100):  # nginx may need a moment to start listening
                try:
                    with opener.open(request, timeout=10) as response:
                        answer: dict[str, Any] = json.load(response)
                        return answer
                except urllib.error.URLError as error:
                    if not isinstance(error.reason, ConnectionRefusedError):
                        raise
                    threading.Event().wait(0.05)
            raise AssertionError("nginx did not start listening")

        update = b'{"update_id": 1}'
        webhook = fetch("/telegram/webhook", update, **{SECRET_HEADER: "s3cret-token_1"})
        assert webhook == {
            "path": "/telegram/webhook",
            "secret": "s3cret-token_1",
            "host": "zhoubao.example.org",
            "proto": "https",
            "body": update.decode(),
        }
        page = fetch("/issues/2022-31?x=1")
        assert (page["path"], page["proto"]) == ("/issues/2022-31?x=1", "https")
        for internal in ("/metrics", "/readyz", "/healthz", "/metrics?x=1"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                fetch(internal)
            assert refused.value.code == 404, internal  # never reaches zhoubao
    finally:
        server.terminate()
        server.wait(timeout=30)
