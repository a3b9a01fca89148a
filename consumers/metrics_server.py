"""The small HTTP server every consumer process answers `GET /metrics` and `GET /healthz` on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gridhook.contract.answers import health, json_response

log = logging.getLogger("gridhook.consumer")


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """An aiohttp app answering `GET /metrics` from `registry`."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(request: web.Request) -> web.Response:
        return json_response(health())

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


@contextlib.asynccontextmanager
async def serving_metrics(registry: CollectorRegistry, host: str, port: int) -> AsyncIterator[int]:
    """Serve `registry` at http://host:port/metrics while inside; yields the port (0 picks a
    free one, so replicas on one host never clash)."""
    runner = web.AppRunner(metrics_app(registry), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1])
    log.info("metrics served", extra={"fields": {"url": f"http://{host}:{bound}/metrics"}})
    try:
        yield bound
    finally:
        await runner.cleanup()
