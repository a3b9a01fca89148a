"""The ingress application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gridhook.contract.errors import GridhookError
from gridhook.contract.retries import retrying
from gridhook.contract.settings import Settings
from gridhook.contract.tenants import Registry
from gridhook.kafka.offsets import EndOffsets
from gridhook.kafka.publisher import Delivery, Publisher
from gridhook.partners.tenancy import TenantLight
from gridhook.state.claims import SharedClaims
from gridhook.state.personal_data import PersonalData
from gridhook.state.store import Store
from service.ingress import (
    datalayer,
    health,
    installations,
    keys,
    measurements,
    openapi,
    powerbox,
    problems,
    quiet_errors,
    read_api,
    readings,
    sources,
)
from service.ingress.consistency import AcknowledgedSyncs, ApplierProgress
from service.ingress.datalayer import billing
from service.ingress.datalayer import document as datalayer_document
from service.ingress.dedup import Deduplicator
from service.ingress.metrics import IngressMetrics
from service.ingress.pipeline import light_tenant_limits, make_handler, shed_routes
from service.ingress.shedding import LoadShedding
from service.ingress.tenancy import Limits, TenantAuthenticator

log = logging.getLogger("gridhook.ingress")


def create_app(
    settings: Settings,
    publisher: Publisher,
    *,
    end_offsets: EndOffsets,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    tenants: Registry | None = None,
) -> web.Application:
    """The ingress: every source's route, the read API, health, metrics and OpenAPI.

    `end_offsets` tell binds which customer syncs to wait for (`gridhook ingress` passes
    Kafka's). `store` defaults to a reader on GRIDHOOK_DATABASE_URL; the app migrates and
    closes it.
    """
    quiet_errors.install()
    app = web.Application(
        client_max_size=settings.http.max_body_bytes, middlewares=[problems.render_errors]
    )
    registry = tenants or Registry(settings)
    jwt = TenantAuthenticator("powerbox", registry, settings)
    all_sources = [
        sources.light(settings, registry),
        *powerbox.sources(jwt),
        sources.wattshift(settings, registry),
        sources.bright(settings, registry),
        installations.source(settings, registry),
    ]
    app[keys.TENANTS] = registry
    app[keys.LIMITS] = Limits(registry)
    app[keys.SETTINGS] = settings
    app[keys.PUBLISHER] = publisher
    app[keys.CLOCK] = clock
    app[keys.METRICS] = IngressMetrics()
    app[keys.SHEDDING] = LoadShedding(settings.http.max_publishes_in_flight)
    app[keys.SOURCES] = all_sources
    app[problems.STYLES] = (
        {source.path: source.style for source in all_sources}
        | {readings.PATH: problems.POWERBOX}
        | dict.fromkeys(datalayer.paths(), datalayer.DATA_LAYER)
    )
    app[keys.STORE] = store or Store(settings.store.database_url)
    app[keys.END_OFFSETS] = end_offsets
    app[keys.APPLIER_PROGRESS] = ApplierProgress(
        app[keys.STORE], app[keys.END_OFFSETS], settings.http.read_your_writes_wait
    )
    app[keys.ACKNOWLEDGED_SYNCS] = AcknowledgedSyncs(settings.http.dedup_max_ids)
    shared = None
    if not app[keys.STORE].is_sqlite:  # PostgreSQL: replicas share what they accepted
        shared = SharedClaims(app[keys.STORE], stale_after=2 * settings.http.publish_timeout)
    app[keys.DEDUPLICATOR] = Deduplicator[Delivery](
        settings.http.dedup_window, settings.http.dedup_max_ids, shared=shared
    )
    app[keys.SHARED_CLAIMS] = shared
    app[keys.PERSONAL] = PersonalData.configured(settings.people)
    for source in all_sources:
        app.router.add_post(source.path, make_handler(source))
    light_source = next(source for source in all_sources if source.name == "light")
    app.router.add_post(light_source.path + "/{tenant}", make_handler(light_source))
    app.router.add_post(readings.PATH, readings.make_handler(jwt))
    app.router.add_get("/v1/powerbox/healthz", powerbox.healthz)
    app.router.add_get("/healthz", health.alive)
    app.router.add_get("/readyz", health.ready)
    app.router.add_get("/metrics", health.metrics)
    read_api.add_routes(app)
    measurements.add_routes(app)
    installations.add_routes(app)
    datalayer.add_routes(app)
    bright_source = next(source for source in all_sources if source.name == "bright")
    app.router.add_post(datalayer.PREFIX + "/events", make_handler(bright_source))
    app[keys.SHED_ROUTES] = shed_routes(
        app[keys.METRICS],
        exact={source.path: source for source in all_sources}
        | {datalayer.PREFIX + "/events": bright_source},
        one_segment_under={light_source.path: light_source},
    )
    app[keys.LIGHT_TENANT_LIMITS] = light_tenant_limits(
        app[keys.METRICS], app[keys.LIMITS], light_source
    )
    app[datalayer_document.DOCUMENT] = datalayer_document.build()
    app.router.add_get(datalayer.PREFIX + "/openapi.json", datalayer_document.serve)
    app[openapi.DOCUMENT] = openapi.build(all_sources)
    app.router.add_get("/openapi.json", openapi.serve)
    app.cleanup_ctx.append(_connected_in_background(keys.PUBLISHER, "kafka producer"))
    app.cleanup_ctx.append(_connected_in_background(keys.END_OFFSETS, "kafka offsets client"))
    app.cleanup_ctx.append(_store_lifecycle)
    app.cleanup_ctx.append(_forgetting_claims)
    app.cleanup_ctx.append(_key_store_lifecycle)
    app.cleanup_ctx.append(_reloading_tenants)
    light = TenantLight(registry, settings.installations.partner_timeout)
    app[billing.LIGHT] = light  # each tenant's Light app, for the Data Layer's invoices
    app.cleanup_ctx.append(_closing(light))
    return app


def _closing(light: TenantLight) -> Callable[[web.Application], AsyncIterator[None]]:
    """Light's clients, closed with the app."""

    async def closing(_: web.Application) -> AsyncIterator[None]:
        yield
        await light.aclose()

    return closing


async def _reloading_tenants(app: web.Application) -> AsyncIterator[None]:
    """SIGHUP re-reads the tenants file; a bad one is refused and the tenants before it stay."""
    registry = app[keys.TENANTS]

    def reload() -> None:
        error = registry.reload()
        if error is None:
            log.info("tenants reloaded", extra={"fields": {"tenants": len(registry.current.by_id)}})
        else:
            log.error(
                "tenants file refused; the tenants before it stay",
                extra={"fields": {"error": error}},
            )

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, reload)
    yield
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.remove_signal_handler(signal.SIGHUP)


async def _key_store_lifecycle(app: web.Application) -> AsyncIterator[None]:
    personal = app[keys.PERSONAL]
    if personal is not None:
        try:
            await personal.keys.migrate()
        except GridhookError as error:
            log.error("key store not reachable", extra={"fields": {"error": str(error)}})
    yield
    if personal is not None:
        await personal.keys.close()


FORGET_CLAIMS_EVERY = 600.0
CONNECT_BACKOFF_MAX = 10.0


async def _forgetting_claims(app: web.Application) -> AsyncIterator[None]:
    """Every ten minutes, delete the shared claims older than the dedup window."""
    shared = app[keys.SHARED_CLAIMS]
    window = app[keys.SETTINGS].http.dedup_window

    async def forget(claims: SharedClaims) -> None:
        while True:
            with contextlib.suppress(GridhookError):
                await claims.forget(time.time() - window)
            await asyncio.sleep(FORGET_CLAIMS_EVERY)

    forgetting = asyncio.create_task(forget(shared)) if shared is not None else None
    yield
    if forgetting is not None:
        forgetting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forgetting


async def _store_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Bring the store's schema up to date at start; close its connections at the end."""
    store = app[keys.STORE]
    try:
        await store.migrate()
    except GridhookError as error:
        log.error("state store not reachable", extra={"fields": {"error": str(error)}})
    yield
    await store.close()


def _connected_in_background(
    key: web.AppKey[Publisher] | web.AppKey[EndOffsets], name: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context connecting `app[key]` in the background, retrying while Kafka is
    unreachable, and stopping it on shutdown. The ingress listens at once: `/readyz` and
    publishing answer 503 until the publisher is connected, binds until the offsets client is."""

    async def connection(app: web.Application) -> AsyncIterator[None]:
        client = app[key]
        connecting = asyncio.create_task(_connect(client, name))
        yield
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        await client.stop()

    return connection


async def _connect(client: Publisher | EndOffsets, name: str) -> None:
    attempt = 0
    async for retry in retrying(CONNECT_BACKOFF_MAX, first=0.5):
        with retry:
            attempt += 1
            try:
                await client.start()
            except GridhookError as error:
                log.warning(
                    "kafka not reachable; retrying",
                    extra={"fields": {"client": name, "attempt": attempt, "error": str(error)}},
                )
                raise
    log.info(f"{name} connected")
