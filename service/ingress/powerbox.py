"""The EnergyGrid PowerBox routes: customer sync and device bind, behind the utility's JWT.

Errors are 4xx with no body, as PowerBox's contract says; schema violations are 400 (the
`POWERBOX` error style).

- Customer sync is idempotent on clientId: a sync equal to the customer's current content
  (what this ingress last acknowledged, or the store) publishes nothing; any other is a new
  version with an id of its own, ordered by where Kafka put it (`gridhook.state.powerbox`).
- Bind is answered from state that includes every sync acknowledged before it
  (`service.ingress.consistency`), and checks what the head-end would refuse later: the
  install code's CRC (400), a meter that is not AMI (400), an unknown or removed meter (404),
  an account that is not active (403), a meter whose bind state or device does not allow
  the request (409).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from gridhook.contract import topics
from gridhook.contract.answers import json_response
from gridhook.contract.errors import (
    Conflict,
    Forbidden,
    GridhookError,
    Refusal,
    SchemaViolation,
    Unbindable,
    UnknownIdentifier,
    Violation,
)
from gridhook.contract.event_types import POWERBOX_BIND_REQUESTED, POWERBOX_CUSTOMER_SYNCED
from gridhook.contract.identifiers import content_hash, hem_profile_id
from gridhook.contract.install_codes import is_valid
from gridhook.contract.signatures import Verified
from gridhook.contract.tenants import CURRENT_TENANT, bare, scoped
from gridhook.kafka.publisher import Delivery
from gridhook.state import binds
from gridhook.state.binds import BindAction, BindRequest, BindState
from gridhook.state.kinds import POWERBOX_CUSTOMER, POWERBOX_METER
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.powerbox import ACTIVE, CONTENT_HASH, meter_listing
from service.ingress import keys, tenancy
from service.ingress.pipeline import unavailable
from service.ingress.problems import POWERBOX
from service.ingress.sources import Identity, Source
from service.ingress.tenancy import TenantAuthenticator
from service.ingress.validation import SingleSchema


def _identify_customer(document: Any, verified: Verified, now: float) -> Identity:
    # Every version gets an id of its own: A, then S, then A again are three versions.
    client_id, digest = document["clientId"], content_hash(document)
    return Identity(
        message_id=f"{client_id}:{digest[:16]}:{uuid.uuid4().hex[:12]}",
        key=client_id,
        dedup_key=f"{client_id}:{digest}",
        within_window=False,
    )


async def _customer_is_current(app: web.Application, document: Any, identity: Identity) -> bool:
    """True when the sync equals the customer's latest version, as this ingress acknowledged it
    or the store holds it (whichever Kafka put later)."""
    digest = content_hash(document)
    acknowledged = app[keys.ACKNOWLEDGED_SYNCS].latest(identity.key)
    try:
        customer = await app[keys.STORE].entity(POWERBOX_CUSTOMER, identity.key)
    except GridhookError:
        customer = None  # the consumer applies an equal version as no change
    stored = customer.facts.get(CONTENT_HASH) if customer else None
    if acknowledged is not None and (stored is None or acknowledged.offset >= (stored.seq or -1)):
        return acknowledged.content_hash == digest
    return stored is not None and stored.value == digest


def _sync_published(app: web.Application, document: Any, identity: Identity, at: Delivery) -> None:
    app[keys.ACKNOWLEDGED_SYNCS].record(identity.key, at.offset, content_hash(document))


def _customer_reply(document: Any, identity: Identity, duplicate: bool) -> dict[str, Any]:
    """The CIS's own clientId (its tenant's scope taken off) and the customer's hemProfileId
    (of the scoped id: the same clientId under two utilities is two customers)."""
    client_id = bare(identity.key, CURRENT_TENANT.get())
    return {"clientId": client_id, "hemProfileId": hem_profile_id(identity.key)}


def _identify_bind(document: Any, verified: Verified, now: float) -> Identity:
    """A new bind id, in the tenant's scope as every identifier it stores."""
    bind_id = scoped(CURRENT_TENANT.get(), str(uuid.uuid4()))
    return Identity(message_id=bind_id, key=document["meterId"])


def _check_install_code(document: Any) -> None:
    """A wrong install code is refused up front, as the head-end would refuse it later."""
    if BindAction.of_code(document["actionCode"]) is BindAction.BIND and not is_valid(
        document["installCode"]
    ):
        raise SchemaViolation((Violation("/installCode", "fails its CRC-16/X-25 check"),))


async def _guard_meter(app: web.Application, document: Any, identity: Identity) -> bool:
    """Refuse what the meter's state does not allow, from state that includes every customer
    sync accepted before this request; 503 when the applier has not caught up in time.

    A fast path only for bind states: the bind forwarder arbitrates requests that race past it.
    """
    try:
        if not await app[keys.APPLIER_PROGRESS].caught_up(topics.POWERBOX_CUSTOMERS):
            raise unavailable("the customer syncs accepted before this request are not applied yet")
        refusal = await _bind_refusal(app, document)
    except GridhookError as error:
        if isinstance(error, Refusal):
            raise
        raise unavailable("the state store or Kafka is not reachable") from None
    if refusal is not None:
        raise refusal
    return False


async def _bind_refusal(app: web.Application, document: Any) -> Refusal | None:
    store = app[keys.STORE]
    request = BindRequest.parse("", document)
    customer = await store.by_alias(POWERBOX_CUSTOMER, str(request.hem_profile_id).lower())
    meter = await store.entity(POWERBOX_METER, request.meter_id)
    if customer is None:
        return UnknownIdentifier("unknown hemProfileId")
    listing = meter_listing(
        customer.entity_id, customer.facts, request.meter_id, meter.facts if meter else {}
    )
    if listing is None:
        return UnknownIdentifier("the meter is not on that customer")
    bound = await MeterBinds(store).current(request.meter_id)
    unbinding_its_device = request.action is BindAction.UNBIND and bound.state is BindState.BOUND
    if not listing.present and not unbinding_its_device:
        return UnknownIdentifier("the meter was removed from that customer")
    status = customer.facts.get("acct_status")
    if status is None or status.value != ACTIVE:
        return Forbidden("the customer's account is not active")
    if request.action is BindAction.BIND and listing.attributes.get("isAMI") is False:
        return Unbindable("the meter is not an AMI meter")
    reason = binds.conflict(request.action, bound, request.mac)
    return None if reason is None else binds.refusal(reason)


def _bind_reply(document: Any, identity: Identity, duplicate: bool) -> dict[str, Any]:
    return {"status": "accepted", "bindId": bare(identity.message_id, CURRENT_TENANT.get())}


def sources(jwt_authenticator: TenantAuthenticator) -> list[Source]:
    """The customer sync and bind routes, sharing the PowerBox routes' JWT authenticator (and
    its JWKS cache) with the readings route."""
    return [
        Source(
            name="powerbox",
            path="/v1/powerbox/customer",
            topic=topics.POWERBOX_CUSTOMERS,
            summary="PowerBox customer sync (idempotent on clientId)",
            authenticator=jwt_authenticator,
            schemas=SingleSchema("powerbox/customer.json", POWERBOX_CUSTOMER_SYNCED),
            scope=tenancy.POWERBOX_CUSTOMER,
            identify=_identify_customer,
            schema_paths=("powerbox/customer.json",),
            style=POWERBOX,
            admit=_customer_is_current,
            published=_sync_published,
            reply=_customer_reply,
        ),
        Source(
            name="powerbox",
            path="/v1/powerbox/bind",
            topic=topics.POWERBOX_BIND_REQUESTS,
            summary="PowerBox device bind (actionCode 1) or unbind (actionCode 0)",
            authenticator=jwt_authenticator,
            schemas=SingleSchema("powerbox/bind-request.json", POWERBOX_BIND_REQUESTED),
            scope=tenancy.POWERBOX_BIND,
            identify=_identify_bind,
            schema_paths=("powerbox/bind-request.json",),
            style=POWERBOX,
            refine=_check_install_code,
            admit=_guard_meter,
            reply=_bind_reply,
            refusals=(
                (Unbindable, "The meter is not an AMI meter."),
                (Forbidden, "The customer's AcctStatus is not active."),
                (
                    UnknownIdentifier,
                    "Unknown hemProfileId, or the meter is not (or no longer) on that customer.",
                ),
                (
                    Conflict,
                    "Bind on a bound or pending meter, unbind on an unbound one, or an unbind "
                    "naming another device than the one bound.",
                ),
            ),
        ),
    ]


async def healthz(request: web.Request) -> web.Response:
    """GET /v1/powerbox/healthz: 200 when gridhook can accept PowerBox calls, 503 (no body)
    while Kafka is not connected."""
    if request.app[keys.PUBLISHER].ready:
        return json_response({"status": "ok"})
    return web.Response(status=503)
