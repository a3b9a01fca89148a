"""Finding anything, and the customer across partners: one search box (an installation id,
Light account uuid, clientId, meterId, ESI ID, bind id, WattShift home id, Light location or
message id) landing on the right page; the account page (the Data Layer account: Light, its
plan, the PowerBox customer and meter, the installation, the WattShift home, Bright, its
people, masked); a service's measurements and cost, charted; the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gridhook.contract.errors import GridhookError
from gridhook.state.bright import bright_account
from gridhook.state.installations import installation_view
from gridhook.state.kinds import (
    BRIGHT_ACCOUNT,
    INSTALLATION,
    LIGHT_ACCOUNT,
    LIGHT_LOCATION,
    PERSON,
    POWERBOX_BIND,
    POWERBOX_CUSTOMER,
    POWERBOX_METER,
    WATTSHIFT_HOME,
)
from gridhook.state.light import account_view
from gridhook.state.measurements import Measurements
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.people import person_view
from gridhook.state.series import Resolution, chosen, costed, resampled, summed, totals
from gridhook.state.services import service_at
from service.console import audit
from service.console.charts import Bar, bars
from service.console.display import utc
from service.console.keys import CLOCK, STORE

DAY = 86_400
ENTITY_PAGES = (
    (POWERBOX_CUSTOMER, "PowerBox customer"),
    (POWERBOX_METER, "meter"),
    (POWERBOX_BIND, "bind"),
    (WATTSHIFT_HOME, "WattShift home"),
)


async def find(request: web.Request) -> web.Response:
    """GET /find?q=: straight to the one page `q` names; a list when several; Follow (a
    message id) when nothing in the state does."""
    q = request.query.get("q", "").strip()
    if not q:
        raise web.HTTPSeeOther("/installations")
    store = request.app[STORE]
    found: list[tuple[str, str]] = []
    if await store.entity(INSTALLATION, q) is not None:
        found.append((f"/installations/{q}", f"installation {q}"))
    if await store.entity(LIGHT_ACCOUNT, q) is not None:
        found.append((f"/accounts/{q}", f"Light account {q}"))
    if await store.entity(LIGHT_LOCATION, q) is not None:
        found.append((f"/services/{q}", f"Light location (service) {q}"))
    for kind, words in ENTITY_PAGES:
        if await store.entity(kind, q) is not None:
            found.append((f"/entities?kind={kind}&id={q}", f"{words} {q}"))
    for entity in await store.all_of(INSTALLATION):
        document = installation_view(entity.facts).document or {}
        if q in (document.get("esiId"), document.get("meterId"), document.get("clientId")):
            found.append((f"/installations/{entity.entity_id}", f"installation {entity.entity_id}"))
    unique = list(dict.fromkeys(found))
    if len(unique) == 1:
        raise web.HTTPSeeOther(unique[0][0])
    if not unique:
        raise web.HTTPSeeOther(f"/follow?id={q}")
    return aiohttp_jinja2.render_template("find.html", request, {"q": q, "found": unique})


@aiohttp_jinja2.template("account.html")
async def account(request: web.Request) -> dict[str, Any]:
    """The customer across partners, by their Light account uuid (the Data Layer account)."""
    account_id = request.match_info["account_id"]
    store = request.app[STORE]
    light = await store.entity(LIGHT_ACCOUNT, account_id)
    locations = await store.children(LIGHT_LOCATION, account_id)
    view = None
    if light is not None:
        view = account_view(light.facts, {e.entity_id: e.facts for e in locations})
    installs = [
        (entity.entity_id, installation_view(entity.facts))
        for entity in await store.all_of(INSTALLATION)
        if (installation_view(entity.facts).document or {}).get("lightAccountUuid") == account_id
    ]
    meters = []
    for _, install in installs:
        meter_id = (install.document or {}).get("meterId")
        if meter_id:
            meters.append((meter_id, await MeterBinds(store).current(meter_id)))
    bright = await store.entity(BRIGHT_ACCOUNT, account_id)
    people = [person_view(e.entity_id, e.facts) for e in await store.children(PERSON, account_id)]
    if light is None and not installs and not people:
        raise web.HTTPNotFound(text="no customer account with that id")
    return {
        "account_id": account_id,
        "view": view,
        "installations": installs,
        "meters": meters,
        "bright": None if bright is None else bright_account(bright.facts),
        "people": people,
    }


RANGES = {"1d": 1, "7d": 7, "30d": 30}


@aiohttp_jinja2.template("service.html")
async def service(request: web.Request) -> dict[str, Any]:
    """A service's interval energy (import up, export down; estimated and missing intervals
    marked) and cost over a range, with daily and monthly totals."""
    location = request.match_info["location"]
    store = request.app[STORE]
    found = await service_at(store, location)
    if found is None:
        raise web.HTTPNotFound(text="no installation enrolled that location")
    days = RANGES.get(request.query.get("range", "7d"), 7)
    measurements = Measurements(store)
    sources = {"han": found.meter_id} if found.meter_id else {}
    sources["light"] = location
    latest = [await measurements.latest(name, series) for name, series in sources.items()]
    last = max((at for at in latest if at is not None), default=None)
    now = int(request.app[CLOCK]())
    end = (now if last is None else last) // DAY * DAY + DAY
    start = end - days * DAY
    slots = chosen(await measurements.to_choose(sources, start, end), start, end)
    resolution: Resolution = "1h" if days <= 7 else "1d"
    shown = resampled(slots, resolution)
    energy = [
        Bar(_label(s.start, resolution), s.imported or 0.0, s.exported or 0.0, s.quality.value)
        for s in shown
    ]
    spans = await measurements.prices(found.home_id, start, end) if found.home_id else []
    fine = costed(slots, found.agreements, spans)
    daily = summed(fine, "1d")
    money = [
        Bar(_label(row.start, "1d"), max(row.cost or 0.0, 0.0), max(-(row.cost or 0.0), 0.0))
        for row in daily
    ]
    return {
        "location": location,
        "service": found,
        "range": request.query.get("range", "7d"),
        "from": utc(start),
        "to": utc(end),
        "energy_chart": bars(energy, "kWh", f"energy per {resolution}: import up, export down"),
        "cost_chart": bars(money, "USD", "cost per day (a credit below the line)"),
        "daily": totals(fine, "day"),
        "monthly": totals(fine, "month"),
        "qualities": {
            quality: sum(1 for s in slots if s.quality.value == quality)
            for quality in ("actual", "estimated", "missing")
        },
    }


def _label(at: int, resolution: str) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%m-%d %H:00" if resolution == "1h" else "%Y-%m-%d")


@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    raw = request.query.get("page", "0")
    page = int(raw) if raw.isdigit() else 0
    try:
        entries, has_more = await audit.recent(request.app, page)
    except GridhookError as error:
        return {"entries": [], "error": f"Kafka: {type(error).__name__}"}
    return {"entries": entries, "page": page, "has_more": has_more}
