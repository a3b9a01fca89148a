"""Typed keys of the objects the console's pages share through the aiohttp application."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gridhook.contract.settings import Settings
from gridhook.kafka.publisher import Publisher
from gridhook.state.store import Store
from service.console.health import IngressSampler
from service.console.jobs import Jobs
from service.console.sessions import Session, Sessions

SETTINGS = web.AppKey("settings", Settings)
BOOTSTRAP = web.AppKey("bootstrap", str)
STORE = web.AppKey("store", Store)
PUBLISHER = web.AppKey("publisher", Publisher)
SESSIONS = web.AppKey("sessions", Sessions)
JOBS = web.AppKey("jobs", Jobs)
SAMPLER = web.AppKey("sampler", IngressSampler)
SESSION = web.RequestKey("session", Session)
"""The logged-in operator's session, set on the request by the console's middleware."""
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
