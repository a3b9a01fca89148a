"""Typed keys of the objects shared through the aiohttp application."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gridhook.contract.settings import Settings
from gridhook.contract.tenants import Registry
from gridhook.kafka.offsets import EndOffsets
from gridhook.kafka.publisher import Delivery, Publisher
from gridhook.state.claims import SharedClaims
from gridhook.state.personal_data import PersonalData
from gridhook.state.store import Store
from service.ingress.consistency import AcknowledgedSyncs, ApplierProgress
from service.ingress.dedup import Deduplicator
from service.ingress.front import Limited, ShedRoutes
from service.ingress.metrics import IngressMetrics
from service.ingress.shedding import LoadShedding
from service.ingress.sources import Source
from service.ingress.tenancy import Limits

SETTINGS = web.AppKey("settings", Settings)
SHEDDING = web.AppKey("shedding", LoadShedding)
SHED_ROUTES = web.AppKey("shed_routes", ShedRoutes)
"""The routes a `SheddingFront` refuses while shedding, with their prepared answers."""
LIGHT_TENANT_LIMITS: web.AppKey[Limited] = web.AppKey("light_tenant_limits")
"""The 429 a `SheddingFront` answers for a Light tenant past its rate."""
PUBLISHER = web.AppKey("publisher", Publisher)
DEDUPLICATOR = web.AppKey("deduplicator", Deduplicator[Delivery])
METRICS = web.AppKey("metrics", IngressMetrics)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
SOURCES = web.AppKey("sources", list[Source])
STORE = web.AppKey("store", Store)
END_OFFSETS = web.AppKey("end_offsets", EndOffsets)
APPLIER_PROGRESS = web.AppKey("applier_progress", ApplierProgress)
ACKNOWLEDGED_SYNCS = web.AppKey("acknowledged_syncs", AcknowledgedSyncs)
SHARED_CLAIMS: web.AppKey[SharedClaims | None] = web.AppKey("shared_claims")
PERSONAL: web.AppKey[PersonalData | None] = web.AppKey("personal_data")
"""Seals and opens people's fields; None when no master key is configured."""
TENANTS = web.AppKey("tenants", Registry)
LIMITS = web.AppKey("limits", Limits)
