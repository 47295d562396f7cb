"""`/healthz`, `/readyz` and `/metrics`: `zhoubao run` seen as any service an administrator runs.

- `/healthz`: the process is alive (its event loop answers). Always 200 while it runs.
- `/readyz`: the database answers a `SELECT 1` within `READY_DB_TIMEOUT`, the process knows its
  role (leader or standby), and, as leader, every channel is connected. 200 when ready, 503
  with the reasons otherwise; a JSON body either way. `/readyz?role=leader`: a standby is
  503 too (for a load balancer choosing the server that talks to Telegram).
- `/metrics`: the Prometheus text format, from the app's own registry (`bot.metrics`).

Served by zhoubao's web server on `[server] listen` (127.0.0.1:8080 by default), beside the
Telegram webhook; the reverse proxy must not publish `/metrics` (deploy/Caddyfile, nginx.conf).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from aiohttp import web

from bot.channels.base import status_of
from bot.metrics import CONTENT_TYPE
from bot.runner import Service
from storage.repositories import observe

READY_DB_TIMEOUT: Final = 2.0  # s for the database to answer SELECT 1
# A channel in one of these states is working (Telegram has no state of its own: "running").
CONNECTED_STATES: Final = frozenset({"running", "connected", "logged_in"})
HEALTHZ: Final = "/healthz"
READYZ: Final = "/readyz"
METRICS: Final = "/metrics"


def observe_routes(service: Service) -> list[web.RouteDef]:
    """The three endpoints, bound to the running service."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        body = await readiness(service, leader_only=request.query.get("role") == "leader")
        return web.json_response(body, status=200 if body["ready"] else 503)

    async def metrics(request: web.Request) -> web.Response:
        text = await service.metrics.exposition(service.app.sessions, service.app.clock)
        return web.Response(body=text, headers={"Content-Type": CONTENT_TYPE})

    return [web.get(HEALTHZ, healthz), web.get(READYZ, readyz), web.get(METRICS, metrics)]


async def readiness(service: Service, leader_only: bool = False) -> dict[str, Any]:
    """What `/readyz` answers: `ready`, the `reasons` it is not, and what was checked.

    `leader_only` (`/readyz?role=leader`): a standby is not ready either, for a load balancer
    that must send the Telegram webhook to the process that talks to Telegram.
    """
    reasons: list[str] = []
    started = time.perf_counter()
    try:
        async with asyncio.timeout(READY_DB_TIMEOUT):
            async with service.app.sessions() as session:
                await observe.ping(session)
        database: dict[str, Any] = {"ok": True}
    except TimeoutError:
        database = {"ok": False, "error": f"no answer within {READY_DB_TIMEOUT:g} s"}
        reasons.append("database: no answer")
    except Exception as error:  # whatever the driver raises: unreachable, refused, auth …
        database = {"ok": False, "error": type(error).__name__}
        reasons.append(f"database: {type(error).__name__}")
    database["seconds"] = round(time.perf_counter() - started, 4)

    if not service.lease_known:
        role = "starting"
        reasons.append("lease: not tried yet")
    else:
        role = "leader" if service.is_leader else "standby"
        if leader_only and role == "standby":
            reasons.append("role: standby")

    channels: dict[str, str] = {}
    for kind, channel in service.channels.items():
        if role != "leader":
            channels[kind.value] = "standby"  # only the lease holder talks to the networks
            continue
        state = "starting" if kind not in service.connected else status_of(channel)
        channels[kind.value] = state
        if state not in CONNECTED_STATES:
            reasons.append(f"channel {kind.value}: {state}")
    return {
        "ready": not reasons,
        "reasons": reasons,
        "database": database,
        "role": role,
        "holder": service.holder,
        "channels": channels,
    }
