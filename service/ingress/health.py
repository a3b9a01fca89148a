"""Liveness, readiness and metrics routes."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gridhook.contract.answers import health, json_response
from service.ingress import keys


async def alive(request: web.Request) -> web.Response:
    """200 while the process serves requests."""
    return json_response(health())


async def ready(request: web.Request) -> web.Response:
    """200 once the Kafka producer is connected; 503 before."""
    if request.app[keys.PUBLISHER].ready:
        return json_response({"status": "ready"})
    return json_response({"status": "waiting for kafka"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of the ingress metrics."""
    body = generate_latest(request.app[keys.METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
