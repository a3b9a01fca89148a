"""What gridhook knows now: one entity's facts, and the health of the stack (consumer lag,
dead-letter depths, pending binds, ingress rates, each process up or down, installations by
status)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gridhook.kafka import browsing
from gridhook.state.installations import STATUSES, installation_view
from gridhook.state.kinds import INSTALLATION
from gridhook.state.meter_binds import MeterBinds
from service.console import entities
from service.console.charts import Bar, bars
from service.console.display import utc
from service.console.forms import dead_letter_names
from service.console.health import probe
from service.console.keys import (
    BOOTSTRAP,
    SAMPLER,
    SETTINGS,
    STORE,
)

log = logging.getLogger("gridhook.console")


@aiohttp_jinja2.template("entities.html")
async def entity(request: web.Request) -> dict[str, Any]:
    kind = request.query.get("kind", entities.KINDS[0])
    entity_id = request.query.get("id", "").strip()
    context: dict[str, Any] = {"kinds": entities.KINDS, "kind": kind, "entity_id": entity_id}
    if not entity_id:
        return context
    if kind not in entities.KINDS:
        return context | {"error": f"unknown kind {kind!r}"}
    page = await entities.entity_page(request.app[STORE], kind, entity_id)
    if page is None:
        return context | {"error": f"no {kind} {entity_id!r} in the store"}
    return context | {"page": page}


@aiohttp_jinja2.template("health.html")
async def health(request: web.Request) -> dict[str, Any]:
    app = request.app
    bootstrap = app[BOOTSTRAP]
    lags = await browsing.lags(bootstrap)
    groups = sorted({lag.group for lag in lags})
    depths = await browsing.sizes(bootstrap, dead_letter_names())
    pending = await MeterBinds(app[STORE]).pending(datetime.now(UTC))
    sampler = app[SAMPLER]
    await sampler.refresh()
    history = list(sampler.rates)
    settings = app[SETTINGS]
    processes = settings.console.processes or {
        "ingress": f"{sampler.metrics_url.rsplit('/', 1)[0]}/healthz"
    }
    installs = [installation_view(e.facts).status for e in await app[STORE].all_of(INSTALLATION)]
    return {
        "processes": await probe(processes),
        "installations": {s: installs.count(s) for s in STATUSES if installs.count(s)},
        "lags": lags,
        "lag_total": {
            group: sum(lag.behind for lag in lags if lag.group == group) for group in groups
        },
        "depths": depths,
        "pending": pending,
        "ingress_reachable": sampler.reachable,
        "latest": sampler.last_minute(),
        "charts": {
            name: bars(
                [Bar(utc(rate.at)[11:19], getattr(rate, field)) for rate in history],
                "per second",
                f"{name} per second, every 5 s, the last 10 minutes",
            )
            for name, field in (
                ("requests", "requests"),
                ("client errors (4xx)", "client_errors"),
                ("server errors (5xx)", "server_errors"),
            )
        },
    }
