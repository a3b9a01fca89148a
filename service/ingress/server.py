"""`gridhook ingress`: serve the ingress app until SIGTERM/SIGINT, then log one summary line."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

from gridhook.contract import running
from gridhook.contract.settings import Settings
from gridhook.kafka.offsets import KafkaEndOffsets
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.store import Store
from service.ingress import keys
from service.ingress.app import create_app
from service.ingress.direct import served_directly
from service.ingress.front import SheddingFront
from service.ingress.metrics import IngressMetrics

log = logging.getLogger("gridhook.ingress")


def serve(settings: Settings, *, worker: bool = False) -> int:
    """Run the ingress on GRIDHOOK_HTTP_HOST:GRIDHOOK_HTTP_PORT; return the exit status.

    With GRIDHOOK_INGRESS_WORKERS > 1 this process supervises that many worker processes that
    share the port (SO_REUSEPORT); each has its own Kafka producer and deduplication memory.
    """
    if settings.http.workers > 1 and not worker:
        return _supervise(settings.http.workers)
    bootstrap = settings.kafka.bootstrap
    if not settings.light.secrets:
        log.warning("GRIDHOOK_LIGHT_SECRETS is empty: every Light webhook will be refused (401)")
    metrics: list[IngressMetrics] = []

    def build() -> web.Application:
        app = create_app(
            settings,
            KafkaPublisher(settings.kafka, bootstrap),
            store=Store(settings.store.database_url),
            end_offsets=KafkaEndOffsets(bootstrap, settings.kafka.client_id),
        )
        metrics.append(app[keys.METRICS])
        return app

    return running.serve(
        build,
        name="ingress",
        host=settings.http.host,
        port=settings.http.port,
        # Requests in flight wait for Kafka's acknowledgement; past the publish timeout they
        # are answered 503 anyway.
        shutdown_timeout=settings.http.publish_timeout + 1,
        summary=lambda: _summary(metrics[0]),
        reuse_port=worker,
        front=shedding_front,
    )


def shedding_front(app: web.Application, server: web.Server) -> Callable[[], SheddingFront]:
    """Each connection behind a `SheddingFront`: a 503 or a Light tenant's 429 costs no aiohttp
    request; the requests it lets through to a fixed path are `served_directly`."""
    server.request_handler = served_directly(app, server.request_handler)
    routes, shedding, limited = (
        app[keys.SHED_ROUTES],
        app[keys.SHEDDING],
        app[keys.LIGHT_TENANT_LIMITS],
    )
    return lambda: SheddingFront(server(), routes, shedding, limited)


def _supervise(workers: int) -> int:
    """Run `workers` ingress processes until SIGTERM/SIGINT, which is passed on to them."""
    children = [running.spawn(["ingress", "--worker"]) for _ in range(workers)]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:
            return  # each worker was told once, and is stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("ingress workers started", extra={"fields": {"workers": workers}})
    while any(child.poll() is None for child in children):
        if not stopping and any(child.poll() is not None for child in children):
            log.error("an ingress worker exited; stopping the others")
            stop(signal.SIGTERM, None)
        time.sleep(0.2)
    return 0 if all(child.returncode == 0 for child in children) else 1


def _summary(metrics: IngressMetrics) -> dict[str, int]:
    """Requests answered, in all and by status."""
    counts: dict[str, float] = {}
    for metric in metrics.requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0) + sample.value
    return {"requests": int(sum(counts.values()))} | {
        f"status_{code}": int(n) for code, n in sorted(counts.items())
    }
