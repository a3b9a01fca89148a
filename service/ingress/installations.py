"""The installations API: an installer's system creates an installation, then follows it.

- `POST /v1/installations` (admin token): the installation document
  (`schemas/gridhook/installation.json`), validated (422 with pointers), published to
  `gridhook.installations` keyed by its id and answered 202 `{installationId, status}` once
  Kafka has it. Its `customer` (the account's owner: personal data) is sealed with the
  person's own key first (`gridhook.contract.personal`): Kafka and the store hold it sealed
  only. `installationId` makes creation idempotent: the same document again is a
  duplicate; another document for the same id is the installer's update (and resumes an
  installation that needs attention). Without one, gridhook makes a UUID.
- `GET /v1/installations/{id}` (admin token): its status and reason, the timeline of every
  step with times, and what the partners say now: the Light account's derived status, the
  meter's bind state and device, the WattShift home and its current price. 404 until the
  state applier has applied the installation (a moment after the 202).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gridhook.contract import topics
from gridhook.contract.answers import json_response
from gridhook.contract.errors import GridhookError, Refusal, Unavailable, UnknownIdentifier
from gridhook.contract.event_types import INSTALLATION_CREATED
from gridhook.contract.identifiers import content_hash
from gridhook.contract.settings import Settings
from gridhook.contract.signatures import Verified
from gridhook.contract.tenants import Registry
from gridhook.state.installations import DOCUMENT, installation_view
from gridhook.state.kinds import (
    INSTALLATION,
    LIGHT_ACCOUNT,
    LIGHT_LOCATION,
    WATTSHIFT_HOME,
)
from gridhook.state.light import account_view
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.people import owner_id
from gridhook.state.store import Store
from gridhook.state.wattshift import current_interval
from service.ingress import keys, tenancy
from service.ingress.pipeline import unavailable
from service.ingress.read_api import authorize, owned
from service.ingress.sources import Identity, Source
from service.ingress.tenancy import TenantAuthenticator
from service.ingress.validation import SingleSchema

PATH = "/v1/installations"
SCHEMA = "gridhook/installation.json"


def _name(document: Any) -> None:
    """Give an installation without an id its UUID, before it is identified and published."""
    document.setdefault("installationId", str(uuid.uuid4()))


def _identify(document: Any, verified: Verified, now: float) -> Identity:
    installation_id = document["installationId"]
    return Identity(message_id=f"{installation_id}:{content_hash(document)}", key=installation_id)


async def _seal_customer(app: web.Application, document: Any) -> None:
    """Seal the owner's fields (`customer`) with their own key before anything is published:
    Kafka and the store only ever hold them sealed."""
    customer = document.get("customer")
    if customer is None:
        return
    personal = app[keys.PERSONAL]
    if personal is None:
        raise Unavailable(
            "personal data cannot be kept here: GRIDHOOK_MASTER_KEYS and "
            "GRIDHOOK_BLIND_INDEX_KEY are not set",
        )
    person_id = owner_id(document["lightAccountUuid"])
    try:
        sealed = await personal.seal(person_id, customer)
    except GridhookError:
        raise unavailable("the key store is not reachable") from None
    document["customer"] = {"personId": person_id, **sealed}


async def _is_current(app: web.Application, document: Any, identity: Identity) -> bool:
    """True when the store holds this very document as the installation's latest, once the
    state applier has applied every installation Kafka had when the request came (at most
    GRIDHOOK_READ_YOUR_WRITES_WAIT; 503 past it): the same creation after any restart is a
    duplicate, and publishes nothing."""
    try:
        if not await app[keys.APPLIER_PROGRESS].caught_up(topics.INSTALLATIONS):
            raise unavailable("the installations accepted before this one are not applied yet")
        stored = await app[keys.STORE].entity(INSTALLATION, identity.key)
    except GridhookError as error:
        if isinstance(error, Refusal):
            raise
        raise unavailable("the state store or Kafka is not reachable") from None
    latest = None if stored is None else stored.facts.get(DOCUMENT)
    return latest is not None and content_hash(latest.value) == content_hash(document)


def _reply(document: Any, identity: Identity, duplicate: bool) -> dict[str, Any]:
    installation_id = document["installationId"]
    return {
        "installationId": installation_id,
        "status": "duplicate" if duplicate else "accepted",
        "href": f"{PATH}/{installation_id}",
    }


def source(settings: Settings, registry: Registry) -> Source:
    """Installations created by an installer's system, keyed by installation id."""
    return Source(
        name="installations",
        path=PATH,
        topic=topics.INSTALLATIONS,
        summary="Create an installation: accept the Light plan when the hardware is online",
        authenticator=TenantAuthenticator("admin", registry, settings),
        scope=tenancy.INSTALLATION,
        schemas=SingleSchema(SCHEMA, INSTALLATION_CREATED),
        identify=_identify,
        schema_paths=(SCHEMA,),
        refine=_name,
        seal=_seal_customer,
        admit=_is_current,
        reply=_reply,
        accepted_status=202,
        republish=True,
    )


async def installation(request: web.Request) -> web.Response:
    """GET /v1/installations/{installationId}."""
    tenant = authorize(request)
    store = request.app[keys.STORE]
    installation_id = owned(request, tenant, request.match_info["installation_id"])
    now = datetime.fromtimestamp(request.app[keys.CLOCK](), UTC)
    try:
        entity = await store.entity(INSTALLATION, installation_id)
        view = None if entity is None else installation_view(entity.facts)
        document = {} if view is None else view.document or {}
        home_id = None if view is None else view.home_id
        partners = await _partners(store, document, home_id, now)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    if view is None or view.document is None:
        raise UnknownIdentifier("no installation with that id")
    return json_response(
        {
            "installationId": installation_id,
            "status": view.status,
            "reason": view.reason,
            "updatedAt": view.updated_at,
            "installation": document,
            **partners,
            "timeline": view.timeline,
        }
    )


async def _partners(
    store: Store, document: dict[str, Any], home_id: str | None, now: datetime
) -> dict[str, Any]:
    account_uuid, meter_id = document.get("lightAccountUuid"), document.get("meterId")
    light = None
    if account_uuid:
        account = await store.entity(LIGHT_ACCOUNT, account_uuid)
        if account is not None:
            locations = await store.children(LIGHT_LOCATION, account_uuid)
            view = account_view(account.facts, {loc.entity_id: loc.facts for loc in locations})
            light = {"accountUuid": account_uuid, "status": view.status}
    meter = None
    if meter_id:
        bound = await MeterBinds(store).current(meter_id)
        meter = {"meterId": meter_id, "bindState": str(bound.state), "deviceMac": bound.device_mac}
    wattshift = None
    if home_id:
        home = await store.entity(WATTSHIFT_HOME, home_id)
        signal = None if home is None else home.facts.get("price_signal")
        value = None if signal is None else signal.value
        wattshift = {
            "homeId": home_id,
            "currentPrice": None if value is None else current_interval(value, now),
            "priceSignal": None
            if value is None
            else {"startTime": value.get("startTime"), "endTime": value.get("endTime")},
        }
    return {"light": light, "meter": meter, "wattshift": wattshift}


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH + "/{installation_id}", installation)
