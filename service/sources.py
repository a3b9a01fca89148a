"""Source declarations: what each partner route needs from the shared ingress pipeline.

A source is data: its route, how it authenticates, how its bodies are validated, which topic it
publishes to and how the message id and partition key are found. The pipeline
(`service/pipeline.py`) does the rest, the same way for every source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web

from gridhook.settings import LightSettings, PartnerSettings
from service.auth import ApiKeyAuthenticator, Authenticator, SignatureAuthenticator
from service.signatures import Verified
from service.validation import Checked, TypedSchemas

LIGHT_EVENT_TYPES = (
    "enrollment.plan_requested",
    "enrollment.plan_accepted",
    "enrollment.identity_updated",
    "enrollment.finalized",
    "account.payment_method_added",
    "account.billing_address_updated",
    "account.payment_failed",
    "account.payment_successful",
    "location.service_active",
    "location.service_canceled",
    "location.usage_history_available",
)


class Schemas(Protocol):
    known_types: tuple[str, ...]

    def check(self, document: Any) -> Checked: ...


@dataclass(frozen=True)
class Identity:
    """The message id (deduplication, `ce_id`) and partition key of an accepted document."""

    message_id: str
    key: str


Admit = Callable[[web.Application, Any, Identity], Awaitable[bool]]
Reply = Callable[[Any, Identity, bool], dict[str, Any]]


@dataclass(frozen=True)
class Source:
    """One partner route on the shared pipeline.

    Optional hooks: `admit` runs after validation and before publishing; it may raise an HTTP
    error (403/404/409 from the store's state) or return True when the document is already
    current (answered as a duplicate, nothing published). `reply` builds the 200 body.
    PowerBox answers errors with no body (`problem_bodies=False`) and schema violations
    with 400 (`invalid_status`).
    """

    name: str
    path: str
    topic: str
    summary: str
    authenticator: Authenticator
    schemas: Schemas
    identify: Callable[[Any, Verified], Identity]
    schema_paths: tuple[str, ...] = field(default=())
    problem_bodies: bool = True
    invalid_status: int = 422
    admit: Admit | None = None
    reply: Reply | None = None
    refusals: tuple[tuple[int, str], ...] = ()


def _identify_light(document: Any, verified: Verified) -> Identity:
    return Identity(
        message_id=verified.message_id or document["id"],
        key=document["data"]["account"]["uuid"],
    )


def light(settings: LightSettings) -> Source:
    """Light's signed webhooks, published to `light.events` keyed by account uuid."""
    event_schemas = {name: f"light/events/{name}.json" for name in LIGHT_EVENT_TYPES}
    return Source(
        name="light",
        path="/webhooks/light",
        topic="light.events",
        summary="Light webhooks (enrollment, account and location events)",
        authenticator=SignatureAuthenticator(settings),
        schemas=TypedSchemas("light/envelope.json", event_schemas, type_field="type"),
        identify=_identify_light,
        schema_paths=tuple(event_schemas.values()),
    )


def _identify_wattshift(document: Any, verified: Verified) -> Identity:
    return Identity(message_id=document["id"], key=document["data"]["homeId"])


def wattshift(settings: PartnerSettings) -> Source:
    """WattShift price-signal webhooks (`x-ws-api-key`), keyed by homeId."""
    path = "wattshift/price-signal.json"
    return Source(
        name="wattshift",
        path="/webhooks/wattshift",
        topic="wattshift.price-signals",
        summary="WattShift price-signal webhooks",
        authenticator=ApiKeyAuthenticator("x-ws-api-key", settings.wattshift_api_keys),
        schemas=TypedSchemas(path, {"price_signal.updated": path}, type_field="type"),
        identify=_identify_wattshift,
        schema_paths=(path,),
    )


BRIGHT_EVENT_TYPES = ("lastSeen", "accountCreated", "accountDeleted")


def content_id(document: Any) -> str:
    """An id for a document that carries none: the hash of its canonical JSON."""
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()[:40]


def _identify_bright(document: Any, verified: Verified) -> Identity:
    return Identity(
        message_id=document.get("eventId") or content_id(document), key=document["accountId"]
    )


def bright(settings: PartnerSettings) -> Source:
    """Bright report events (`x-api-key`), keyed by accountId. Bodies hold personal data
    (email, personalNumber): like every body, they are never logged."""
    path = "bright/report-event.json"
    return Source(
        name="bright",
        path="/webhooks/bright",
        topic="bright.events",
        summary="Bright Energy report events (lastSeen, accountCreated, accountDeleted)",
        authenticator=ApiKeyAuthenticator("x-api-key", settings.bright_api_keys),
        schemas=TypedSchemas(path, dict.fromkeys(BRIGHT_EVENT_TYPES, path), type_field="type"),
        identify=_identify_bright,
        schema_paths=(path,),
    )
