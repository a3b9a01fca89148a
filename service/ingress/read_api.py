"""The read API: current state from the store, behind the admin bearer token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gridhook.contract.answers import json_response
from gridhook.contract.errors import (
    ForeignIdentifier,
    GridhookError,
    Refusal,
    Unauthenticated,
    Unavailable,
    UnknownIdentifier,
)
from gridhook.state.binds import BindView, MeterBind, bind_view
from gridhook.state.bright import bright_account as bright_view
from gridhook.state.facts import Fact, Facts
from gridhook.state.kinds import (
    BRIGHT_ACCOUNT,
    LIGHT_ACCOUNT,
    LIGHT_LOCATION,
    POWERBOX_BIND,
    POWERBOX_CUSTOMER,
    POWERBOX_METER,
    WATTSHIFT_HOME,
)
from gridhook.state.light import account_view
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.powerbox import (
    METER,
    SITE,
    SITE_INFO,
    Listing,
    current_listing,
    meter_listing,
    owners_of,
)
from gridhook.state.store import Entity
from gridhook.state.wattshift import current_interval
from service.ingress import keys


def authorize(request: web.Request) -> str:
    """The tenant whose admin token the request carries; `Unauthenticated` without one. Every
    id the request names is that tenant's (`scoped`)."""
    offered = request.headers.get("Authorization", "")
    scheme, _, credential = offered.partition(" ")
    tenant = request.app[keys.TENANTS].current.of_admin_token(credential.strip())
    if tenant is None or scheme.lower() != "bearer":
        raise Unauthenticated(
            "send Authorization: Bearer <GRIDHOOK_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tenant.tenant_id


def owned(request: web.Request, tenant: str, identifier: str) -> str:
    """`identifier` as `tenant`'s (scoped); `UnknownIdentifier` when it is another tenant's,
    exactly as when it is nobody's."""
    try:
        return request.app[keys.TENANTS].current.scope(tenant, identifier)
    except ForeignIdentifier:
        raise UnknownIdentifier("gridhook has not accepted this identifier") from None


async def _load(request: web.Request, kind: str, entity_id: str) -> Entity:
    scoped_id = owned(request, authorize(request), entity_id)
    try:
        entity = await request.app[keys.STORE].entity(kind, scoped_id)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    if entity is None:
        raise UnknownIdentifier(f"no {kind} with that id")
    return entity


def _facts(facts: Facts) -> dict[str, Any]:
    return {
        name: {"value": f.value, "at": f.at, "eventId": f.event_id} for name, f in facts.items()
    }


def _at(fact: Fact | None) -> str | None:
    return None if fact is None else fact.at


async def account(request: web.Request) -> web.Response:
    """GET /v1/accounts/{account_uuid}: the account's derived status (Light's lifecycle), its
    enrollment checklist, last payment and locations; every fact with its provenance."""
    entity = await _load(request, LIGHT_ACCOUNT, request.match_info["account_uuid"])
    locations = await request.app[keys.STORE].children(LIGHT_LOCATION, entity.entity_id)
    view = account_view(
        entity.facts, {location.entity_id: location.facts for location in locations}
    )
    payment = entity.facts.get("last_payment")
    by_uuid = {location.entity_id: location for location in locations}
    return json_response(
        {
            "accountUuid": entity.entity_id,
            "status": view.status,
            "lightStatus": view.light_status,
            "checklist": view.checklist,
            "lastPayment": None if payment is None else {"result": payment.value, "at": payment.at},
            "locations": [
                {
                    "locationUuid": location.location_uuid,
                    "serviceStatus": location.service_status,
                    "serviceStatusSince": location.since,
                    "esiId": location.details.get("esi_id"),
                    "serviceStartDate": location.details.get("service_start_date"),
                    "finalServiceDate": location.details.get("final_service_date"),
                    "planName": location.details.get("plan_name"),
                    "planUuid": location.details.get("plan_uuid"),
                    "facts": _facts(by_uuid[location.location_uuid].facts),
                }
                for location in view.locations
            ],
            "facts": _facts(entity.facts),
        }
    )


async def customer(request: web.Request) -> web.Response:
    """GET /v1/powerbox/customers/{clientId}: status, profile id, version, sites and meters
    (those the latest sync left out marked removed, with the sync that removed them)."""
    entity = await _load(request, POWERBOX_CUSTOMER, request.match_info["client_id"])
    facts = entity.facts
    meter_ids = sorted(name.removeprefix(METER) for name in facts if name.startswith(METER))
    store = request.app[keys.STORE]
    meters = await store.entities(POWERBOX_METER, meter_ids)
    bound = await MeterBinds(store).current_of(meter_ids)
    sites = []
    for name in sorted(name for name in facts if name.startswith(SITE)):
        site_id = name.removeprefix(SITE)
        info = facts.get(SITE_INFO + site_id)
        sites.append(
            {
                "siteId": site_id,
                "removed": not facts[name].value,
                "since": _provenance(facts[name]),
                **(info.value if info is not None else {}),
            }
        )
    version = facts.get("version")
    return json_response(
        {
            "clientId": entity.entity_id,
            "hemProfileId": entity.alias,
            "acctStatus": _value(facts.get("acct_status")),
            "version": None if version is None else _provenance(version),
            "sites": sites,
            "meters": [
                meter_view(
                    meters.get(meter_id) or Entity(POWERBOX_METER, meter_id, None, None, {}),
                    [meter_listing(entity.entity_id, facts, meter_id, _facts_of(meters, meter_id))],
                    bound[meter_id],
                )
                for meter_id in meter_ids
            ],
            "facts": _facts(facts),
        }
    )


def _facts_of(entities: dict[str, Entity], entity_id: str) -> Facts:
    found = entities.get(entity_id)
    return found.facts if found is not None else {}


def meter_view(
    meter: Entity,
    listings: list[Listing | None],
    bound: MeterBind,
    history: list[BindView] | None = None,
) -> dict[str, Any]:
    """A meter as the read API shows it: its owner (or the customer that removed it), what
    that customer says of it, its bind state and, when given, its bind requests (newest
    first)."""
    current = current_listing([listing for listing in listings if listing is not None])
    removed = current is not None and not current.present
    view: dict[str, Any] = {
        "meterId": meter.entity_id,
        "clientId": current.client_id if current else meter.parent_id,
        "removed": removed,
        "removedBy": _provenance(current.since) if current and removed else None,
        "siteId": current.attributes.get("siteId") if current else None,
        "meterType": current.attributes.get("meterType") if current else None,
        "isAMI": current.attributes.get("isAMI") if current else None,
        "bindState": str(bound.state),
        "deviceMac": bound.device_mac,
        "bindId": bound.bind_id,
        "reason": bound.reason,
        "lastChange": bound.updated_at,
        "facts": _facts(meter.facts),
    }
    if history is not None:
        view["binds"] = [
            {"bindId": b.bind_id, "action": b.action, "status": b.status, "reason": b.reason,
             "updatedAt": b.updated_at}
            for b in sorted(history, key=lambda b: b.updated_at or "", reverse=True)
        ]  # fmt: skip
    if removed and bound.state.holds_device:
        view["note"] = (
            "removed from its customer while a device is bound: the device stays joined "
            "until an unbind"
        )
    return view


async def meter(request: web.Request) -> web.Response:
    """GET /v1/powerbox/meters/{meterId}: owner, removal, bind state, device, last change,
    and the meter's bind requests."""
    entity = await _load(request, POWERBOX_METER, request.match_info["meter_id"])
    store = request.app[keys.STORE]
    owners = await store.entities(POWERBOX_CUSTOMER, owners_of(entity.facts))
    listings = [
        meter_listing(client_id, customer.facts, entity.entity_id, entity.facts)
        for client_id, customer in owners.items()
    ]
    bound = await MeterBinds(store).current(entity.entity_id)
    requests = await store.children(POWERBOX_BIND, entity.entity_id)
    history = [bind_view(found.entity_id, found.facts) for found in requests]
    return json_response(meter_view(entity, listings, bound, history))


async def bind(request: web.Request) -> web.Response:
    """GET /v1/powerbox/binds/{bindId}: a bind request's current state and its steps."""
    entity = await _load(request, POWERBOX_BIND, request.match_info["bind_id"])
    view = bind_view(entity.entity_id, entity.facts)
    return json_response(
        {
            "bindId": view.bind_id,
            "meterId": view.meter_id,
            "action": view.action,
            "macAddress": view.mac,
            "status": view.status,
            "state": view.state,
            "reason": view.reason,
            "round": view.round,
            "submittedAt": view.submitted_at,
            "updatedAt": view.updated_at,
            "steps": view.steps,
        }
    )


def _value(fact: Fact | None) -> Any:
    return None if fact is None else fact.value


def _provenance(fact: Fact) -> dict[str, Any]:
    return {"eventId": fact.event_id, "at": fact.at}


async def price_signal(request: web.Request) -> web.Response:
    """GET /v1/wattshift/homes/{homeId}/price-signal: the latest price signal, and the
    interval of it that holds now (`current`, null when none does)."""
    entity = await _load(request, WATTSHIFT_HOME, request.match_info["home_id"])
    signal = entity.facts.get("price_signal")
    now = datetime.fromtimestamp(request.app[keys.CLOCK](), UTC)
    current = None if signal is None else current_interval(signal.value, now)
    return json_response(
        {
            "homeId": entity.entity_id,
            "current": current,
            "priceSignal": None if signal is None else signal.value,
            "updatedAt": _at(signal),
        }
    )


async def bright_account(request: web.Request) -> web.Response:
    """GET /v1/bright/accounts/{accountId}: status (active or deleted), created, deleted, last
    seen. No personal datum is kept to show."""
    entity = await _load(request, BRIGHT_ACCOUNT, request.match_info["account_id"])
    account = bright_view(entity.facts)
    return json_response(
        {
            "accountId": entity.entity_id,
            "status": account.status,
            "createdAt": account.created_at,
            "deletedAt": account.deleted_at,
            "lastSeenAt": account.last_seen_at,
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/accounts/{account_uuid}", account)
    app.router.add_get("/v1/powerbox/customers/{client_id}", customer)
    app.router.add_get("/v1/powerbox/meters/{meter_id}", meter)
    app.router.add_get("/v1/powerbox/binds/{bind_id}", bind)
    app.router.add_get("/v1/wattshift/homes/{home_id}/price-signal", price_signal)
    app.router.add_get("/v1/bright/accounts/{account_id}", bright_account)


READ_ROUTES = (
    ("/v1/accounts/{account_uuid}", "A Light account: status, checklist, payments, locations."),
    ("/v1/powerbox/customers/{clientId}", "A PowerBox customer: version, sites and meters."),
    ("/v1/powerbox/meters/{meterId}", "A meter's owner, removal, bind state and device."),
    ("/v1/powerbox/binds/{bindId}", "A bind request's current state and its steps."),
    ("/v1/wattshift/homes/{homeId}/price-signal", "The latest price signal, and the price now."),
    ("/v1/bright/accounts/{accountId}", "A Bright account: status, created, deleted, last seen."),
    ("/v1/installations/{installationId}", "An installation: status, timeline, partners' view."),
)

READ_REFUSALS: tuple[tuple[type[Refusal], str], ...] = (
    (Unauthenticated, "Missing or wrong admin token."),
    (UnknownIdentifier, "Unknown id."),
    (Unavailable, "The state store is not reachable."),
)
