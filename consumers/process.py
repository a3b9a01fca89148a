"""`gridhook consume <name>`: one consumer process, run from its declaration.

Each of gridhook's consumers is declared once (`gridhook.contract.topics.CONSUMERS`: command,
group, topics); `HANDLERS` says what builds its handler. `run` does the rest the same way for
every one: the migrated store and a publisher (for dead letters and results), the handler with
whatever it holds open (partner clients), `/metrics`, the consumer runtime until SIGTERM or
SIGINT, then one summary line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import uvloop
from prometheus_client import CollectorRegistry, Gauge

from consumers.applier import StateApplier
from consumers.bind.forwarder import BindForwarder
from consumers.bind.gateway import TenantGateways
from consumers.installations.driver import InstallationDriver
from consumers.installations.orchestrator import Orchestrator
from consumers.measurements import MeasurementMetrics, MeasurementsConsumer
from consumers.metrics_server import serving_metrics
from consumers.usage import UsageFetcher
from gridhook.contract.errors import StoreUnavailable
from gridhook.contract.gc_tuning import tune_garbage_collector
from gridhook.contract.settings import Settings
from gridhook.contract.tenants import Registry
from gridhook.contract.topics import Consumer
from gridhook.kafka.consumer import BatchHandler, ConsumerRuntime
from gridhook.kafka.consumer_metrics import ConsumerMetrics
from gridhook.kafka.publisher import KafkaPublisher, Publisher
from gridhook.partners.tenancy import TenantLight, TenantWattShift
from gridhook.state.measurements import Measurements
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.personal_data import PersonalData
from gridhook.state.store import Store
from gridhook.state.usage_locations import UsageLocations
from gridhook.state.workflows import WorkflowRepository

log = logging.getLogger("gridhook.consumer")


@dataclass(frozen=True)
class Resources:
    """What every consumer process holds open for its handler."""

    settings: Settings
    store: Store
    publisher: Publisher
    metrics: ConsumerMetrics
    stop: asyncio.Event
    tenants: Registry


HandlerFactory = Callable[[Resources], AbstractAsyncContextManager[BatchHandler]]


@contextlib.asynccontextmanager
async def _state_applier(held: Resources) -> AsyncIterator[BatchHandler]:
    personal = PersonalData.configured(held.settings.people, writer=True)
    if personal is not None:
        await personal.keys.migrate()
    try:  # it erases the people of an account Bright reports deleted
        yield StateApplier(held.store, held.settings.store.applied_events_days, personal=personal)
    finally:
        if personal is not None:
            await personal.keys.close()


@contextlib.asynccontextmanager
async def _bind_forwarder(held: Resources) -> AsyncIterator[BatchHandler]:
    bind = held.settings.bind
    gateways = TenantGateways(held.tenants, bind.gateway_timeout)  # each tenant's head-end
    forwarder = BindForwarder(held.store, gateways, held.publisher, bind)
    reporting = asyncio.create_task(_report_pending_binds(held))
    try:  # it resumes each partition's requests as the group assigns it
        yield forwarder
    finally:
        reporting.cancel()
        await forwarder.close()
        await gateways.aclose()


@contextlib.asynccontextmanager
async def _orchestrator(held: Resources) -> AsyncIterator[BatchHandler]:
    config = held.settings.installations
    light = TenantLight(held.tenants, config.partner_timeout)  # each tenant's Light app
    wattshift = TenantWattShift(held.tenants, config.partner_timeout)
    repository = WorkflowRepository(held.store)
    driver = InstallationDriver(
        held.store, repository, light, wattshift, held.publisher, config, tenants=held.tenants
    )
    orchestrator = Orchestrator(repository, driver)
    try:  # it resumes each partition's workflows as the group assigns it
        yield orchestrator
    finally:
        await orchestrator.close()
        await light.aclose()
        await wattshift.aclose()


@contextlib.asynccontextmanager
async def _measurements(held: Resources) -> AsyncIterator[BatchHandler]:
    metrics = MeasurementMetrics(held.metrics.registry)
    retention = held.settings.measurements.retention_days
    yield MeasurementsConsumer(Measurements(held.store), metrics, retention)


@contextlib.asynccontextmanager
async def _usage_fetcher(held: Resources) -> AsyncIterator[BatchHandler]:
    config = held.settings.installations
    light = TenantLight(held.tenants, config.partner_timeout)
    fetcher = UsageFetcher(
        UsageLocations(held.store),
        light,
        held.publisher,
        held.settings.measurements.usage_check_seconds,
        config.backoff_max,
        tenants=held.tenants,
    )
    try:  # it resumes each partition's locations as the group assigns it
        yield fetcher
    finally:
        await fetcher.close()
        await light.aclose()


HANDLERS: dict[str, HandlerFactory] = {
    "state": _state_applier,
    "bind": _bind_forwarder,
    "installations": _orchestrator,
    "measurements": _measurements,
    "usage": _usage_fetcher,
}
"""What builds the handler of each declared consumer, by its name."""


def run(consumer: Consumer, settings: Settings, group_id: str | None = None) -> int:
    """Run `consumer` (as `group_id`, its declared group by default) until SIGTERM/SIGINT; log
    one summary line."""
    uvloop.run(_consume(consumer, settings, group_id or consumer.group))
    return 0


async def _consume(consumer: Consumer, settings: Settings, group_id: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    store = Store(settings.store.database_url, writer=True)
    await store.migrate()
    publisher = KafkaPublisher(settings.kafka, settings.kafka.bootstrap)
    metrics = ConsumerMetrics(group_id)
    try:
        await publisher.start()
        tenants = Registry(settings)
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload(tenants))
        held = Resources(settings, store, publisher, metrics, stop, tenants)
        async with (
            HANDLERS[consumer.name](held) as handler,
            serving_metrics(
                metrics.registry, settings.consumer.metrics_host, settings.consumer.metrics_port
            ),
        ):
            runtime = ConsumerRuntime(
                bootstrap=settings.kafka.bootstrap,
                kafka=settings.kafka,
                group_id=group_id,
                topics=consumer.topics,
                handler=handler,
                dead_letters=publisher,
                max_records=settings.store.consumer_batch,
                metrics=metrics,
            )
            tune_garbage_collector()
            fields = {"group": group_id, "topics": len(consumer.topics)}
            log.info("consumer started", extra={"fields": fields})
            summary = await runtime.run(stop)
    finally:
        await publisher.stop()
        await store.close()
    log.info("consumer stopped", extra={"fields": {"group": group_id, **summary.as_fields()}})


def _reload(tenants: Registry) -> None:
    """SIGHUP: the tenants file again (a bad one refused, the tenants before it kept)."""
    error = tenants.reload()
    if error is None:
        log.info("tenants reloaded", extra={"fields": {"tenants": len(tenants.current.by_id)}})
    else:
        log.error(
            "tenants file refused; the tenants before it stay", extra={"fields": {"error": error}}
        )


PENDING_BINDS_EVERY_SECONDS = 5.0


class PendingBindMetrics:
    """The bind forwarder's own gauges: its unfinished requests by state and age."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.by_age = Gauge(
            "gridhook_pending_binds",
            "Bind requests admitted and not finished, by state and age since admission.",
            ["state", "age"],
            registry=registry,
        )
        self.oldest = Gauge(
            "gridhook_pending_bind_oldest_seconds",
            "Age of the oldest unfinished bind request, by state.",
            ["state"],
            registry=registry,
        )


async def _report_pending_binds(held: Resources) -> None:
    """Every few seconds, set `gridhook_pending_binds` from the forwarder's table."""
    gauges = PendingBindMetrics(held.metrics.registry)
    gauge, oldest = gauges.by_age, gauges.oldest
    binds = MeterBinds(held.store)
    while not held.stop.is_set():
        try:
            summary = await binds.pending(datetime.now(UTC))
        except StoreUnavailable:
            summary = None  # the next round tries again; the forwarder itself retries too
        if summary is not None:
            gauge.clear()
            oldest.clear()
            for pending in summary:
                oldest.labels(pending.state).set(pending.oldest_seconds)
                for age, count in pending.by_age.items():
                    gauge.labels(pending.state, age).set(count)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(held.stop.wait(), PENDING_BINDS_EVERY_SECONDS)
