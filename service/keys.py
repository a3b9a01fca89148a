"""Typed keys of the objects shared through the aiohttp application."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gridhook.settings import Settings
from producers.publisher import Delivery, Publisher
from service.dedup import Deduplicator
from service.metrics import IngressMetrics
from service.sources import Source

SETTINGS = web.AppKey("settings", Settings)
PUBLISHER = web.AppKey("publisher", Publisher)
DEDUPLICATOR = web.AppKey("deduplicator", Deduplicator[Delivery])
METRICS = web.AppKey("metrics", IngressMetrics)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
SOURCES = web.AppKey("sources", list[Source])
