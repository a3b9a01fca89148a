"""Who may call the Data Layer, and what a call may see: Bright's API key, the account an id
belongs to, the acting user of a mutation. Every id a caller passes is checked to belong to the
account it claims; an id of another account is answered exactly as an unknown one (404).

An account is the Data Layer's view of one customer: its id is the Light account's uuid, and it
gathers that Light account and its locations, the installation that enrolled each location
(with its meter, device and WattShift home), and the account's people (an owner, guests).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gridhook.contract.errors import GridhookError, Unauthenticated, Unavailable, UnknownIdentifier
from gridhook.contract.tenants import CURRENT_TENANT, DEFAULT
from gridhook.state.kinds import LIGHT_ACCOUNT, LIGHT_LOCATION, PERSON
from gridhook.state.light import AccountView, account_view
from gridhook.state.people import PersonView, person_view
from gridhook.state.personal_data import PersonalData
from gridhook.state.store import Entity, Store
from service.ingress import keys
from service.ingress.read_api import owned

API_KEY = "x-api-key"
ACTING_USER = "X-Acting-User-Id"
CLAIMED_ACCOUNT = "X-Account-Id"
MEASUREMENT, COST = "m-", "c-"
"""Prefixes of a service's measurement and cost ids (the service id is its location's uuid)."""


TENANT = "gridhook_tenant"
"""The request's tenant, as the key named it."""


def require_key(request: web.Request) -> str:
    """The tenant whose Bright key `x-api-key` is; `Unauthenticated` (401) otherwise. Every id
    the request names is then that tenant's, and the partner clients work for it."""
    offered = request.headers.get(API_KEY, "")
    tenant = None
    for candidate in request.app[keys.TENANTS].current.by_id.values():
        for key in candidate.bright_api_keys:
            if offered and hmac.compare_digest(offered.encode(), key.encode()):
                tenant = candidate.tenant_id
    if tenant is None:
        raise Unauthenticated(
            f"send a valid {API_KEY} header", headers={"WWW-Authenticate": API_KEY}
        )
    request[TENANT] = tenant
    CURRENT_TENANT.set(tenant)
    return tenant


def mine(request: web.Request, identifier: str) -> str:
    """`identifier` as the request's tenant's (scoped)."""
    return owned(request, request.get(TENANT, DEFAULT), identifier)


def store_of(request: web.Request) -> Store:
    return request.app[keys.STORE]


def personal_of(request: web.Request) -> PersonalData:
    personal = request.app[keys.PERSONAL]
    if personal is None:
        raise Unavailable("personal data is not configured here (GRIDHOOK_MASTER_KEYS)")
    return personal


@dataclass(frozen=True)
class Account:
    """One Data Layer account as the state knows it now."""

    account_id: str
    light: Entity | None
    view: AccountView | None
    locations: dict[str, Entity]
    people: list[PersonView]

    def person(self, person_id: str) -> PersonView | None:
        return next((p for p in self.people if p.person_id == person_id), None)


async def load_account(request: web.Request, account_id: str) -> Account:
    """The account, or 404 when gridhook knows neither its Light account nor its people."""
    account_id = mine(request, account_id)
    store = store_of(request)
    try:
        light = await store.entity(LIGHT_ACCOUNT, account_id)
        locations = {e.entity_id: e for e in await store.children(LIGHT_LOCATION, account_id)}
        people = [
            person_view(e.entity_id, e.facts) for e in await store.children(PERSON, account_id)
        ]
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    if light is None and not people:
        raise UnknownIdentifier("no account with that id")
    view = None
    if light is not None:
        view = account_view(light.facts, {uuid: e.facts for uuid, e in locations.items()})
    return Account(account_id, light, view, locations, people)


def claimed(request: web.Request, account_id: str | None) -> None:
    """404 when the caller claims another account (`X-Account-Id`) than the one an id belongs
    to: the same answer as an unknown id."""
    claim = request.headers.get(CLAIMED_ACCOUNT)
    if claim is not None and mine(request, claim) != account_id:
        raise UnknownIdentifier("no such id on that account")


async def location_account(request: web.Request, location_uuid: str) -> str:
    """The account a location (a service) belongs to; 404 when unknown or not the claimed
    account's."""
    location_uuid = mine(request, location_uuid)
    try:
        location = await store_of(request).entity(LIGHT_LOCATION, location_uuid)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    parent = None if location is None else location.parent_id
    if parent is None:
        raise UnknownIdentifier("no service with that id")
    claimed(request, parent)
    return parent


async def person_of(request: web.Request, person_id: str, *, claim: bool = True) -> PersonView:
    """A person by user id; 404 when unknown, erased, or (with `claim`) not the claimed
    account's."""
    try:
        entity = await store_of(request).entity(PERSON, person_id)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    person = None if entity is None else person_view(person_id, entity.facts)
    if (
        person is None
        or person.erased
        or mine(request, person.account_id or "") != person.account_id
    ):
        raise UnknownIdentifier("no user with that id")
    if claim:
        claimed(request, person.account_id)
    return person


def user_json(person: PersonView, fields: dict[str, str | None]) -> dict[str, Any]:
    """A user as the Data Layer shows them (every field null once erased)."""
    return {
        "id": person.person_id,
        "name": fields.get("name"),
        "emailAddress": fields.get("email"),
        "phoneNumber": fields.get("phone"),
    }
