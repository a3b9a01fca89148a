"""The ingress app as unit tests build it: real routes and pipeline, in-memory Kafka."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from gridhook.contract.settings import Settings
from gridhook.contract.tenants import Registry
from gridhook.kafka.offsets import EndOffsets
from gridhook.kafka.publisher import Publisher
from gridhook.state.store import Store
from service.ingress.app import create_app
from tests.support.fakes import InMemoryEndOffsets, InMemoryPublisher

NOW = 1_790_000_000.0
"""2026-09-21T14:13:20Z: the ingress's clock in unit tests unless a test gives another."""


def ingress_app(
    settings: Settings | None = None,
    publisher: Publisher | None = None,
    *,
    store: Store | None = None,
    end_offsets: EndOffsets | None = None,
    clock: Callable[[], float] | None = lambda: NOW,
    tenants: Registry | None = None,
) -> web.Application:
    """The ingress with `settings` (an empty environment's by default), an in-memory publisher
    and end offsets unless given, the fixed clock `NOW` (the wall clock with `clock=None`) and
    `tenants` (the settings' single tenant unless given)."""
    return create_app(
        settings or Settings.from_env({}),
        publisher or InMemoryPublisher(),
        end_offsets=end_offsets or InMemoryEndOffsets(),
        store=store,
        clock=time.time if clock is None else clock,
        tenants=tenants,
    )
