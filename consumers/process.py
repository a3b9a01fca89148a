"""Consumer processes: `gridhook consume state`, `consume bind` and `consume installations`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import uvloop
from prometheus_client import Gauge

from consumers.applier import StateApplier
from consumers.bind.forwarder import BindForwarder
from consumers.bind.gateway import GatewayClient
from consumers.installations.driver import InstallationDriver
from consumers.installations.light import LightClient
from consumers.installations.orchestrator import Orchestrator
from consumers.installations.wattshift import WattShiftClient
from consumers.installations.workflows import WorkflowRepository
from consumers.metrics import ConsumerMetrics, serving_metrics
from consumers.runtime import BatchHandler, ConsumerRuntime
from gridhook.contract.errors import StoreUnavailable
from gridhook.contract.gc_tuning import tune_garbage_collector
from gridhook.contract.settings import Settings
from gridhook.contract.topics import (
    BIND_GROUP,
    INSTALLATIONS,
    INSTALLATIONS_GROUP,
    POWERBOX_BIND_REQUESTS,
    STATE_GROUP,
)
from gridhook.kafka import embedded
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.pending_binds import pending_binds
from gridhook.state.store import Store
from gridhook.state.transitions import APPLIED_TOPICS

log = logging.getLogger("gridhook.consumer")


@contextlib.asynccontextmanager
async def _store_and_publisher(
    settings: Settings, bootstrap: str
) -> AsyncIterator[tuple[Store, KafkaPublisher]]:
    """The migrated store and a connected publisher every consumer process needs."""
    store = Store(settings.store.database_url, writer=True)
    await store.migrate()
    publisher = KafkaPublisher(settings.kafka, bootstrap)
    try:
        await publisher.start()
        yield store, publisher
    finally:
        await publisher.stop()
        await store.close()


def run_state_applier(settings: Settings, group_id: str = STATE_GROUP) -> int:
    """Apply the state topics to the store until SIGTERM/SIGINT; log one summary line."""
    bootstrap = embedded.bootstrap_servers(settings.kafka.bootstrap_servers, settings.home)

    async def main() -> None:
        async with _store_and_publisher(settings, bootstrap) as (store, publisher):
            applier = StateApplier(store, settings.store.applied_events_days)
            await _consume(settings, bootstrap, group_id, APPLIED_TOPICS, applier, publisher)

    uvloop.run(main())
    return 0


def run_bind_forwarder(settings: Settings, group_id: str = BIND_GROUP) -> int:
    """Forward bind requests to the head-end until SIGTERM/SIGINT; log one summary line."""
    bootstrap = embedded.bootstrap_servers(settings.kafka.bootstrap_servers, settings.home)
    gateway_settings = (settings.bind.gateway_url, settings.bind.gateway_timeout)

    async def main() -> None:
        async with (
            _store_and_publisher(settings, bootstrap) as (store, publisher),
            GatewayClient(*gateway_settings) as gateway,
        ):
            forwarder = BindForwarder(store, gateway, publisher, settings.bind)
            try:  # it resumes each partition's requests as the group assigns it
                await _consume(
                    settings,
                    bootstrap,
                    group_id,
                    [POWERBOX_BIND_REQUESTS],
                    forwarder,
                    publisher,
                    pending_of=store,
                )
            finally:
                await forwarder.close()

    uvloop.run(main())
    return 0


def run_orchestrator(settings: Settings, group_id: str = INSTALLATIONS_GROUP) -> int:
    """Drive installations with Light and WattShift until SIGTERM/SIGINT; one summary line."""
    bootstrap = embedded.bootstrap_servers(settings.kafka.bootstrap_servers, settings.home)
    config = settings.installations

    async def main() -> None:
        async with (
            _store_and_publisher(settings, bootstrap) as (store, publisher),
            LightClient(config.light_url, config.light_app_token, config.partner_timeout) as light,
            WattShiftClient(
                config.wattshift_url, config.wattshift_key, config.partner_timeout
            ) as wattshift,
        ):
            repository = WorkflowRepository(store)
            driver = InstallationDriver(store, repository, light, wattshift, publisher, config)
            orchestrator = Orchestrator(repository, driver)
            try:  # it resumes each partition's workflows as the group assigns it
                await _consume(
                    settings, bootstrap, group_id, [INSTALLATIONS], orchestrator, publisher
                )
            finally:
                await orchestrator.close()

    uvloop.run(main())
    return 0


PENDING_BINDS_EVERY_SECONDS = 5.0


async def _consume(
    settings: Settings,
    bootstrap: str,
    group_id: str,
    topics: Sequence[str],
    handler: BatchHandler,
    dead_letters: KafkaPublisher,
    pending_of: Store | None = None,
) -> None:
    """Run `handler` in the group until SIGTERM/SIGINT, serving /metrics meanwhile (with the
    pending binds of `pending_of`, for the forwarder)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tune_garbage_collector()
    metrics = ConsumerMetrics(group_id)
    runtime = ConsumerRuntime(
        bootstrap=bootstrap,
        kafka=settings.kafka,
        group_id=group_id,
        topics=topics,
        handler=handler,
        dead_letters=dead_letters,
        max_records=settings.store.consumer_batch,
        metrics=metrics,
    )
    where = settings.consumer
    async with serving_metrics(metrics.registry, where.metrics_host, where.metrics_port):
        reporting = None
        if pending_of is not None:
            reporting = asyncio.create_task(_report_pending_binds(pending_of, metrics, stop))
        log.info("consumer started", extra={"fields": {"group": group_id, "topics": len(topics)}})
        try:
            summary = await runtime.run(stop)
        finally:
            if reporting is not None:
                reporting.cancel()
    log.info("consumer stopped", extra={"fields": {"group": group_id, **summary.as_fields()}})


async def _report_pending_binds(
    store: Store, metrics: ConsumerMetrics, stop: asyncio.Event
) -> None:
    """Every few seconds, set `gridhook_pending_binds` from the forwarder's table."""
    gauge = Gauge(
        "gridhook_pending_binds",
        "Bind requests admitted and not finished, by state and age since admission.",
        ["state", "age"],
        registry=metrics.registry,
    )
    oldest = Gauge(
        "gridhook_pending_bind_oldest_seconds",
        "Age of the oldest unfinished bind request, by state.",
        ["state"],
        registry=metrics.registry,
    )
    while not stop.is_set():
        try:
            summary = await pending_binds(store, datetime.now(UTC))
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
            await asyncio.wait_for(stop.wait(), PENDING_BINDS_EVERY_SECONDS)
