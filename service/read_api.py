"""The read API: current state from the store, behind the admin bearer token."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from gridhook.contract.errors import (
    GridhookError,
    Refusal,
    Unauthenticated,
    Unavailable,
    UnknownIdentifier,
)
from gridhook.state.facts import Fact, Facts
from gridhook.state.kinds import (
    BRIGHT_ACCOUNT,
    LIGHT_ACCOUNT,
    LIGHT_LOCATION,
    POWERBOX_CUSTOMER,
    POWERBOX_METER,
    WATTSHIFT_HOME,
)
from gridhook.state.store import Entity
from service import keys


def _authorize(request: web.Request) -> None:
    token = request.app[keys.SETTINGS].store.admin_token
    offered = request.headers.get("Authorization", "")
    scheme, _, credential = offered.partition(" ")
    if (
        token is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(credential.strip().encode(), token.encode())
    ):
        raise Unauthenticated(
            "send Authorization: Bearer <GRIDHOOK_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def _load(request: web.Request, kind: str, entity_id: str) -> Entity:
    _authorize(request)
    try:
        entity = await request.app[keys.STORE].entity(kind, entity_id)
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
    """GET /v1/accounts/{account_uuid}: enrollment progress, payments, locations."""
    entity = await _load(request, LIGHT_ACCOUNT, request.match_info["account_uuid"])
    locations = await request.app[keys.STORE].children(LIGHT_LOCATION, entity.entity_id)
    return web.json_response(
        {
            "accountUuid": entity.entity_id,
            "facts": _facts(entity.facts),
            "locations": [
                {"locationUuid": location.entity_id, "facts": _facts(location.facts)}
                for location in locations
            ],
        }
    )


async def customer(request: web.Request) -> web.Response:
    """GET /v1/powerbox/customers/{clientId}: status, profile id, meters."""
    entity = await _load(request, POWERBOX_CUSTOMER, request.match_info["client_id"])
    meters = await request.app[keys.STORE].children(POWERBOX_METER, entity.entity_id)
    return web.json_response(
        {
            "clientId": entity.entity_id,
            "hemProfileId": entity.alias,
            "facts": _facts(entity.facts),
            "meters": [meter_view(meter) for meter in meters],
        }
    )


def meter_view(meter: Entity) -> dict[str, Any]:
    bind = meter.facts.get("bind")
    state: dict[str, Any] = bind.value if bind is not None else {}
    return {
        "meterId": meter.entity_id,
        "clientId": meter.parent_id,
        "bindState": state.get("state", "unbound"),
        "deviceMac": state.get("device_mac"),
        "bindId": state.get("bind_id"),
        "reason": state.get("reason"),
        "lastChange": _at(bind),
        "facts": _facts(meter.facts),
    }


async def meter(request: web.Request) -> web.Response:
    """GET /v1/powerbox/meters/{meterId}: bind state, device, last change."""
    return web.json_response(
        meter_view(await _load(request, POWERBOX_METER, request.match_info["meter_id"]))
    )


async def price_signal(request: web.Request) -> web.Response:
    """GET /v1/wattshift/homes/{homeId}/price-signal: the latest price signal."""
    entity = await _load(request, WATTSHIFT_HOME, request.match_info["home_id"])
    signal = entity.facts.get("price_signal")
    return web.json_response(
        {
            "homeId": entity.entity_id,
            "priceSignal": None if signal is None else signal.value,
            "updatedAt": _at(signal),
        }
    )


async def bright_account(request: web.Request) -> web.Response:
    """GET /v1/bright/accounts/{accountId}: created, deleted, last seen."""
    entity = await _load(request, BRIGHT_ACCOUNT, request.match_info["account_id"])
    return web.json_response(
        {
            "accountId": entity.entity_id,
            "createdAt": _at(entity.facts.get("created")),
            "deletedAt": _at(entity.facts.get("deleted")),
            "lastSeenAt": _at(entity.facts.get("last_seen")),
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/accounts/{account_uuid}", account)
    app.router.add_get("/v1/powerbox/customers/{client_id}", customer)
    app.router.add_get("/v1/powerbox/meters/{meter_id}", meter)
    app.router.add_get("/v1/wattshift/homes/{home_id}/price-signal", price_signal)
    app.router.add_get("/v1/bright/accounts/{account_id}", bright_account)


READ_ROUTES = (
    ("/v1/accounts/{account_uuid}", "A Light account: enrollment, payments, locations."),
    ("/v1/powerbox/customers/{clientId}", "A PowerBox customer and its meters."),
    ("/v1/powerbox/meters/{meterId}", "A meter's bind state, device and last change."),
    ("/v1/wattshift/homes/{homeId}/price-signal", "The latest WattShift price signal."),
    ("/v1/bright/accounts/{accountId}", "A Bright account: created, deleted, last seen."),
)

READ_REFUSALS: tuple[tuple[type[Refusal], str], ...] = (
    (Unauthenticated, "Missing or wrong admin token."),
    (UnknownIdentifier, "Unknown id."),
    (Unavailable, "The state store is not reachable."),
)
