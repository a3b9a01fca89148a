"""The EnergyGrid PowerBox routes: customer sync and device bind, behind the utility's JWT.

Errors are 4xx with no body, as PowerBox's contract says; schema violations are 400 (the
`POWERBOX` error style).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
from aiohttp import web

from gridhook.contract import topics
from gridhook.contract.errors import Conflict, Forbidden, GridhookError, UnknownIdentifier
from gridhook.contract.event_types import POWERBOX_BIND_REQUESTED, POWERBOX_CUSTOMER_SYNCED
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.settings import PartnerSettings
from gridhook.state import bind_rules
from gridhook.state.kinds import POWERBOX_CUSTOMER, POWERBOX_METER
from service import keys
from service.auth import JwksKeys, JwtAuthenticator
from service.pipeline import unavailable
from service.problems import POWERBOX
from service.signatures import Verified
from service.sources import Identity, Source
from service.validation import SingleSchema

ACTIVE = "A"
_ACTIONS = {1: bind_rules.BIND, 0: bind_rules.UNBIND}


def authenticator(settings: PartnerSettings) -> JwtAuthenticator:
    jwks = JwksKeys(settings.powerbox_jwks) if settings.powerbox_jwks else None
    return JwtAuthenticator(jwks, settings.powerbox_issuer, settings.powerbox_audience)


def customer_version(document: Any) -> str:
    """The message id of a customer sync: its clientId and the hash of its canonical JSON, so
    the same payload is the same version and a changed one is a new version."""
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return f"{document['clientId']}:{hashlib.sha256(canonical).hexdigest()[:32]}"


def _identify_customer(document: Any, verified: Verified) -> Identity:
    return Identity(message_id=customer_version(document), key=document["clientId"])


async def _customer_is_current(app: web.Application, document: Any, identity: Identity) -> bool:
    try:
        customer = await app[keys.STORE].entity(POWERBOX_CUSTOMER, identity.key)
    except GridhookError:
        return False  # the in-process deduplication and the consumer's ce_id check remain
    version = customer.facts.get("version") if customer else None
    return version is not None and version.value == identity.message_id


def _customer_reply(document: Any, identity: Identity, duplicate: bool) -> dict[str, Any]:
    return {"clientId": identity.key, "hemProfileId": hem_profile_id(identity.key)}


def _identify_bind(document: Any, verified: Verified) -> Identity:
    return Identity(message_id=str(uuid.uuid4()), key=document["meterId"])


async def _guard_meter(app: web.Application, document: Any, identity: Identity) -> bool:
    """404 unknown profile or meter not on it, 403 account not active, 409 conflicting state.

    A fast path only: the bind forwarder arbitrates requests that race past it.
    """
    store = app[keys.STORE]
    try:
        customer = await store.by_alias(POWERBOX_CUSTOMER, document["hemProfileId"].lower())
        meter = await store.entity(POWERBOX_METER, document["meterId"])
    except GridhookError:
        raise unavailable("the state store is not reachable") from None
    if customer is None or meter is None or meter.parent_id != customer.entity_id:
        raise UnknownIdentifier("unknown hemProfileId, or the meter is not on that customer")
    status = customer.facts.get("acct_status")
    if status is None or status.value != ACTIVE:
        raise Forbidden("the customer's account is not active")
    bind = meter.facts.get("bind")
    state = bind.value["state"] if bind is not None else "unbound"
    if bind_rules.conflicts(_ACTIONS[document["actionCode"]], state):
        raise Conflict("the meter's bind state does not allow this request")
    return False


def _bind_reply(document: Any, identity: Identity, duplicate: bool) -> dict[str, Any]:
    return {"status": "accepted", "bindId": identity.message_id}


def sources(settings: PartnerSettings) -> list[Source]:
    """The customer sync and bind routes, sharing one JWT authenticator and JWKS cache."""
    jwt_authenticator = authenticator(settings)
    return [
        Source(
            name="powerbox",
            path="/v1/powerbox/customer",
            topic=topics.POWERBOX_CUSTOMERS,
            summary="PowerBox customer sync (idempotent on clientId)",
            authenticator=jwt_authenticator,
            schemas=SingleSchema("powerbox/customer.json", POWERBOX_CUSTOMER_SYNCED),
            identify=_identify_customer,
            schema_paths=("powerbox/customer.json",),
            style=POWERBOX,
            admit=_customer_is_current,
            reply=_customer_reply,
        ),
        Source(
            name="powerbox",
            path="/v1/powerbox/bind",
            topic=topics.POWERBOX_BIND_REQUESTS,
            summary="PowerBox device bind (actionCode 1) or unbind (actionCode 0)",
            authenticator=jwt_authenticator,
            schemas=SingleSchema("powerbox/bind-request.json", POWERBOX_BIND_REQUESTED),
            identify=_identify_bind,
            schema_paths=("powerbox/bind-request.json",),
            style=POWERBOX,
            admit=_guard_meter,
            reply=_bind_reply,
            refusals=(
                (Forbidden, "The customer's AcctStatus is not active."),
                (UnknownIdentifier, "Unknown hemProfileId, or the meter is not on that customer."),
                (Conflict, "Bind on a bound or pending meter, or unbind on an unbound one."),
            ),
        ),
    ]


async def healthz(request: web.Request) -> web.Response:
    """GET /v1/powerbox/healthz: 200 when gridhook can accept PowerBox calls, 503 (no body)
    while Kafka is not connected."""
    if request.app[keys.PUBLISHER].ready:
        return web.json_response({"status": "ok"})
    return web.Response(status=503)
