"""Installations: the list (counts by status, filters, pages) and one installation (its
timeline as steps with times and durations, what it waits on in words, links to every partner's
view and to the records that moved it), with an operator's resume and cancel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import web

from gridhook.contract.codec import CloudEvent, encode, format_time
from gridhook.contract.errors import GridhookError
from gridhook.contract.event_types import INSTALLATION_CREATED
from gridhook.contract.topics import INSTALLATIONS
from gridhook.state.installations import (
    FINISHED,
    NEEDS_ATTENTION,
    STATUSES,
    WAITING,
    InstallationView,
    installation_view,
)
from gridhook.state.kinds import INSTALLATION
from gridhook.state.meter_binds import MeterBinds
from service.console import audit
from service.console.display import utc
from service.console.keys import CLOCK, PUBLISHER, SESSION, STORE

log = logging.getLogger("gridhook.console")

PAGE = 50
WAITS = {
    "meter:unbound": "the device to be bound to the meter",
    "meter:bind_pending": "the device to join the meter's network",
    "meter:unbind_pending": "the meter's old device to leave",
    "meter:bind_failed": "a new bind: the last one failed",
    "account:credit_check_frozen": "Light to unfreeze the customer's credit check",
    "account:enrollment_incomplete": "the customer to finish Light's sign-up",
    "account:created": "the customer to finish Light's sign-up",
}
AGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}


def waiting_words(waits: list[str] | None) -> str | None:
    """What an installation waits on, in words."""
    if not waits:
        return None
    return "; ".join(WAITS.get(wait, wait.replace(":", " ")) for wait in waits)


@dataclass(frozen=True)
class Row:
    installation_id: str
    view: InstallationView
    waiting_on: str | None
    updated: datetime | None


def _row(installation_id: str, view: InstallationView) -> Row:
    waits = None
    if view.status == WAITING and view.timeline:
        waits = (view.timeline[-1].get("detail") or {}).get("for")
    updated = None
    if view.updated_at:
        updated = datetime.fromisoformat(view.updated_at.replace("Z", "+00:00"))
    return Row(installation_id, view, waiting_words(waits), updated)


@aiohttp_jinja2.template("installations.html")
async def installations(request: web.Request) -> dict[str, Any]:
    query = request.query
    try:
        found = await request.app[STORE].all_of(INSTALLATION)
    except GridhookError as error:
        return {"error": f"the store: {type(error).__name__}", "rows": [], "counts": {}}
    rows = [_row(entity.entity_id, installation_view(entity.facts)) for entity in found]
    counts = {status: sum(1 for r in rows if r.view.status == status) for status in STATUSES}
    status, waiting = query.get("status", ""), query.get("waiting", "")
    age = AGES.get(query.get("age", ""))
    now = datetime.fromtimestamp(request.app[CLOCK](), UTC)
    chosen = [
        row
        for row in rows
        if (not status or row.view.status == status)
        and (not waiting or (row.waiting_on or "").find(waiting) >= 0)
        and (age is None or (row.updated is not None and now - row.updated >= age))
    ]
    chosen.sort(key=lambda row: row.updated or now, reverse=True)
    raw_page = query.get("page", "0")
    page = int(raw_page) if raw_page.isdigit() else 0
    return {
        "rows": chosen[page * PAGE : (page + 1) * PAGE],
        "total": len(chosen),
        "counts": counts,
        "statuses": STATUSES,
        "waits": sorted(set(WAITS.values())),
        "query": query,
        "page": page,
        "has_more": len(chosen) > (page + 1) * PAGE,
    }


def _steps(view: InstallationView) -> list[dict[str, Any]]:
    """The timeline with each step's duration until the next (or until now)."""
    steps = []
    times = [datetime.fromisoformat(step["at"].replace("Z", "+00:00")) for step in view.timeline]
    for index, step in enumerate(view.timeline):
        ended = times[index + 1] if index + 1 < len(times) else None
        waited = None if ended is None else ended - times[index]
        steps.append(step | {"took": _duration(waited), "at_text": utc(times[index])})
    return steps


def _duration(span: timedelta | None) -> str:
    if span is None:
        return ""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


async def installation(request: web.Request) -> web.Response:
    installation_id = request.match_info["installation_id"]
    store = request.app[STORE]
    entity = await store.entity(INSTALLATION, installation_id)
    if entity is None:
        raise web.HTTPNotFound(text="no installation with that id (yet)")
    view = installation_view(entity.facts)
    document = view.document or {}
    meter = None
    if document.get("meterId"):
        meter = await MeterBinds(store).current(document["meterId"])
    location = next(
        (
            (step.get("detail") or {}).get("locationUuid")
            for step in reversed(view.timeline)
            if (step.get("detail") or {}).get("locationUuid")
        ),
        None,
    )
    context = {
        "installation_id": installation_id,
        "view": view,
        "row": _row(installation_id, view),
        "document": document,
        "steps": _steps(view),
        "meter": meter,
        "location": location,
        "can_resume": view.status == NEEDS_ATTENTION,
        "can_cancel": view.status not in FINISHED,
    }
    return aiohttp_jinja2.render_template("installation.html", request, context)


async def act(request: web.Request) -> web.Response:
    """Resume (needs attention) or cancel (unfinished) an installation: its current document
    again with `operatorAction`, on `gridhook.installations`, audited."""
    installation_id = request.match_info["installation_id"]
    action = request.match_info["action"]
    form = await request.post()
    if form.get("confirm") != "yes":
        raise web.HTTPBadRequest(text="tick the confirmation box to go on")
    app = request.app
    entity = await app[STORE].entity(INSTALLATION, installation_id)
    view = None if entity is None else installation_view(entity.facts)
    if view is None or view.document is None:
        raise web.HTTPNotFound(text="no installation with that id")
    allowed = view.status == NEEDS_ATTENTION if action == "resume" else view.status not in FINISHED
    if not allowed:
        raise web.HTTPConflict(text=f"an installation {view.status} cannot be {action}d")
    operator = request[SESSION].operator
    now = datetime.fromtimestamp(app[CLOCK](), UTC)
    document = dict(view.document) | {
        "operatorAction": {"action": action, "by": operator.name, "at": format_time(now)}
    }
    event = CloudEvent(
        id=f"{installation_id}:{action}:{int(now.timestamp())}",
        source="console",
        type=INSTALLATION_CREATED,
        time=now,
        key=installation_id.encode(),
        data=orjson.dumps(document),
    )
    try:
        await app[PUBLISHER].publish(INSTALLATIONS, encode(event))
        await audit.record(app, operator, action, f"installation {installation_id}")
    except GridhookError as error:
        raise web.HTTPServiceUnavailable(text=f"Kafka: {type(error).__name__}") from None
    log.info(
        f"installation {action}d by an operator",
        extra={"fields": {"installation": installation_id, "operator": operator.name}},
    )
    raise web.HTTPSeeOther(f"/installations/{installation_id}")
