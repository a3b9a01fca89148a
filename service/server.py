"""`gridhook ingress`: serve the ingress app until SIGTERM/SIGINT, then log one summary line."""

from __future__ import annotations

import logging

import uvloop
from aiohttp import web

from consumers.store import Store
from gridhook import embedded_kafka
from gridhook.settings import Settings
from producers.publisher import KafkaPublisher
from service import keys
from service.app import create_app

log = logging.getLogger("gridhook.ingress")


def serve(settings: Settings) -> int:
    """Run the ingress on GRIDHOOK_HTTP_HOST:GRIDHOOK_HTTP_PORT; return the exit status."""
    bootstrap = embedded_kafka.bootstrap_servers(settings.kafka.bootstrap_servers, settings.home)
    if not settings.light.secrets:
        log.warning("GRIDHOOK_LIGHT_SECRETS is empty: every Light webhook will be refused (401)")

    async def build() -> web.Application:
        app = create_app(
            settings,
            KafkaPublisher(settings.kafka, bootstrap),
            store=Store(settings.store.database_url),
        )
        app.on_shutdown.append(_log_summary)
        return app

    log.info(
        "ingress listening",
        extra={"fields": {"address": f"http://{settings.http.host}:{settings.http.port}"}},
    )
    web.run_app(
        build(),
        host=settings.http.host,
        port=settings.http.port,
        access_log=None,
        print=None,
        shutdown_timeout=settings.http.publish_timeout + 1,
        loop=uvloop.new_event_loop(),
    )
    return 0


async def _log_summary(app: web.Application) -> None:
    counts: dict[str, float] = {}
    for metric in app[keys.METRICS].requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0) + sample.value
    log.info(
        "ingress stopped",
        extra={
            "fields": {"requests": int(sum(counts.values()))}
            | {f"status_{code}": int(n) for code, n in sorted(counts.items())}
        },
    )
