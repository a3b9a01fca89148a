"""The Data Layer's reads (seed 003's order): search, account, roles, locations, agreements,
products, measurements and cost. Everything is served from gridhook's state; people's fields
are opened with their own keys only to answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gridhook.contract import schemas
from gridhook.contract.answers import json_response
from gridhook.contract.errors import (
    GridhookError,
    MalformedJson,
    SchemaViolation,
    Unavailable,
    UnknownIdentifier,
    UnsupportedMediaType,
)
from gridhook.state.cost import Agreement
from gridhook.state.installations import installation_view
from gridhook.state.kinds import INSTALLATION, PERSON, PERSON_INDEX
from gridhook.state.people import OWNER, person_view
from gridhook.state.services import Service, service_at
from service.ingress import keys
from service.ingress.datalayer.access import (
    COST,
    MEASUREMENT,
    claimed,
    load_account,
    location_account,
    mine,
    personal_of,
    require_key,
    store_of,
    user_json,
)
from service.ingress.measurements import (
    agreement_json,
    cost_body,
    parse_query,
    service_series,
)
from service.ingress.measurements import (
    measurements_body as measured_body,
)
from service.ingress.pipeline import is_json, read_body
from service.ingress.validation import check_depth, violations_of

SEARCH = schemas.validator("datalayer/search.json")


async def json_body(request: web.Request, validator: Any) -> dict[str, Any]:
    """The request's JSON body, checked against `validator` (400 when it does not match)."""
    if not is_json(request):
        raise UnsupportedMediaType("send application/json")
    body = await read_body(request, request.app[keys.SETTINGS].http.max_body_bytes)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedJson("the body is not valid JSON") from None
    check_depth(body, document)
    if not validator.is_valid(document):
        raise SchemaViolation(violations_of(validator, document))
    return dict(document)


async def search(request: web.Request) -> web.Response:
    """POST /accounts/search {personalNumber} or {email} -> {accountId}; 404 when nobody
    has it (or had it, and was erased)."""
    require_key(request)
    document = await json_body(request, SEARCH)
    field, value = next(iter(document.items()))
    digest = personal_of(request).index(field, str(value))
    store = store_of(request)
    try:
        index = await store.entity(PERSON_INDEX, f"{field}:{digest}")
        person_id = None if index is None else index.facts["person"].value
        entity = None if person_id is None else await store.entity(PERSON, str(person_id))
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    person = None if entity is None else person_view(entity.entity_id, entity.facts)
    if person is None or person.erased or person.indexes.get(field) != digest:
        raise UnknownIdentifier("no account has that")
    return json_response({"accountId": person.account_id})


async def account(request: web.Request) -> web.Response:
    """GET /accounts/{accountId}: the user profile view: the account's status and owner."""
    require_key(request)
    found = await load_account(request, request.match_info["accountId"])
    claimed(request, found.account_id)
    owners = [person for person in found.people if person.role == OWNER]
    opened = await personal_of(request).open(owners) if owners else {}
    owner = owners[0] if owners else None
    return json_response(
        {
            "id": found.account_id,
            "status": found.view.status if found.view else "unknown",
            "owner": None if owner is None else user_json(owner, opened[owner.person_id]),
            "locations": len(found.locations),
            "users": len([person for person in found.people if not person.erased]),
        }
    )


async def roles(request: web.Request) -> web.Response:
    """GET /accounts/{accountId}/roles: each user and their role, owners first."""
    require_key(request)
    found = await load_account(request, request.match_info["accountId"])
    claimed(request, found.account_id)
    people = sorted(found.people, key=lambda p: (p.role != OWNER, p.person_id))
    opened = await personal_of(request).open(people) if people else {}
    return json_response(
        [{"role": p.role, "user": user_json(p, opened[p.person_id])} for p in people]
    )


ADDRESS = {
    "address_1": "line1",
    "address_2": "line2",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
}


async def locations(request: web.Request) -> web.Response:
    """GET /accounts/{accountId}/locations: each Light location and its electricity service
    (the ids the next calls take)."""
    require_key(request)
    found = await load_account(request, request.match_info["accountId"])
    claimed(request, found.account_id)
    views = found.view.locations if found.view else []
    return json_response(
        [
            {
                "id": view.location_uuid,
                "address": {ADDRESS[k]: v for k, v in view.details.items() if k in ADDRESS},
                "services": [
                    {
                        "id": view.location_uuid,
                        "kind": "electricity",
                        "status": view.service_status,
                        "measurementId": MEASUREMENT + view.location_uuid,
                        "costId": COST + view.location_uuid,
                    }
                ],
            }
            for view in views
        ]
    )


def _status(agreement: Agreement, today: Any) -> str:
    if today < agreement.start:
        return "upcoming"
    return "active" if agreement.covers(today) else "ended"


async def _service(request: web.Request, service_id: str) -> Service:
    await location_account(request, service_id)
    try:
        service = await service_at(store_of(request), mine(request, service_id))
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    if service is None:
        raise UnknownIdentifier("no service with that id")
    return service


async def agreements(request: web.Request) -> web.Response:
    """GET /services/{serviceId}/agreements: the Light plans accepted for the service, in
    force and earlier, with their energy rate."""
    require_key(request)
    service = await _service(request, request.match_info["serviceId"])
    today = datetime.fromtimestamp(request.app[keys.CLOCK](), UTC).date()
    return json_response(
        [
            {
                "id": agreement.plan_uuid,
                **agreement_json(agreement),
                "termMonths": agreement.term_months,
                "energyRate": {"price": agreement.rate, "unit": "USD/kWh"},
                "status": _status(agreement, today),
            }
            for agreement in service.agreements
        ]
    )


async def products(request: web.Request) -> web.Response:
    """GET /services/{serviceId}/products: what the service runs on: the Light plan, the
    WattShift price signals and rate plan, the device bound to the meter."""
    require_key(request)
    service = await _service(request, request.match_info["serviceId"])
    try:
        entity = await store_of(request).entity(INSTALLATION, service.installation_id)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    view = None if entity is None else installation_view(entity.facts)
    timeline = [] if view is None else view.timeline
    found: list[dict[str, Any]] = [
        {"type": "electricity_plan", "id": a.plan_uuid, "name": a.name, "provider": "Light"}
        for a in service.agreements
    ]
    onboarded = [s["detail"] for s in timeline if s["step"] == "wattshift_onboarded"]
    if onboarded:
        detail = onboarded[-1] or {}
        found.append(
            {
                "type": "price_signals",
                "provider": "WattShift",
                "id": detail.get("homeId"),
                "ratePlanId": detail.get("ratePlanId"),
                "name": detail.get("ratePlanName"),
            }
        )
    online = [s["detail"] for s in timeline if s["step"] == "hardware_online"]
    if online and service.meter_id:
        found.append(
            {
                "type": "device",
                "id": (online[-1] or {}).get("deviceMac"),
                "meterId": service.meter_id,
                "name": "HAN device",
            }
        )
    return json_response(found)


def _location_of(prefixed: str, prefix: str) -> str:
    if not prefixed.startswith(prefix):
        raise UnknownIdentifier("no such id")
    return prefixed[len(prefix) :]


async def measurements(request: web.Request) -> web.Response:
    """GET /measurements/{measurementId}?from=&to=&resolution=: the service's intervals."""
    require_key(request)
    query = parse_query(request.query)
    location = mine(request, _location_of(request.match_info["measurementId"], MEASUREMENT))
    await location_account(request, location)
    series = await service_series(request.app, location)
    return json_response(
        {"measurementId": MEASUREMENT + location} | await measured_body(request.app, series, query)
    )


async def costs(request: web.Request) -> web.Response:
    """GET /costs/{costId}?from=&to=&resolution=: the service's intervals priced, with totals."""
    require_key(request)
    query = parse_query(request.query)
    location = mine(request, _location_of(request.match_info["costId"], COST))
    await location_account(request, location)
    series = await service_series(request.app, location)
    return json_response({"costId": COST + location} | await cost_body(request.app, series, query))
