"""Source declarations: what each partner route needs from the shared ingress pipeline.

A source is data: its route, how it authenticates, how its bodies are validated, which topic it
publishes to and how the message id and partition key are found. The pipeline
(`service/pipeline.py`) does the rest, the same way for every source.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from gridhook.contract import topics
from gridhook.contract.errors import Refusal
from gridhook.contract.event_types import (
    BRIGHT_EVENT_TYPES,
    LIGHT_EVENT_TYPES,
    WATTSHIFT_PRICE_SIGNAL,
)
from gridhook.contract.identifiers import content_hash
from gridhook.contract.settings import Settings
from gridhook.contract.signatures import Verified
from gridhook.contract.tenants import Registry
from gridhook.kafka.publisher import Delivery
from service.ingress import tenancy
from service.ingress.price_signals import check_intervals
from service.ingress.problems import PROBLEM_BODIES, ErrorStyle
from service.ingress.tenancy import Scope, TenantAuthenticator
from service.ingress.validation import Checked, TypedSchemas


class Schemas(Protocol):
    def check(self, document: Any) -> Checked: ...


@dataclass(frozen=True)
class Identity:
    """The message id (`ce_id`) and partition key of an accepted document, and how it is
    deduplicated: by `dedup_key` (the message id unless given), remembered for the dedup
    window unless `within_window` is False (then only a publish in flight is joined)."""

    message_id: str
    key: str
    dedup_key: str | None = None
    within_window: bool = True


Admit = Callable[[web.Application, Any, Identity], Awaitable[bool]]
Reply = Callable[[Any, Identity, bool], dict[str, Any]]
Refine = Callable[[Any], None]
Seal = Callable[[web.Application, Any], Awaitable[None]]
Published = Callable[[web.Application, Any, Identity, Delivery], None]


@dataclass(frozen=True)
class Source:
    """One partner route on the shared pipeline.

    Optional hooks: `refine` checks what a schema cannot (an install code's CRC) and raises
    `SchemaViolation`; `seal` seals (or drops) the personal data of the document before it is
    identified and published (`republish` then); `admit` runs after validation and before
    publishing; it may raise a `Refusal` (403/404/409 from the store's state, each listed in
    `refusals` for the OpenAPI document) or return True when the document is already current
    (answered as a duplicate, nothing published); `published` learns where Kafka put an accepted
    document. `reply` builds the body of the `accepted_status` answer (200 unless said).
    `republish` publishes the document as `refine` and `seal` left it rather than the raw body.
    `style` says how refusals are answered: PowerBox's are 4xx with no body, and 400 for a
    schema violation.
    """

    name: str
    path: str
    topic: str
    summary: str
    authenticator: TenantAuthenticator
    schemas: Schemas
    identify: Callable[[Any, Verified, float], Identity]
    schema_paths: tuple[str, ...] = field(default=())
    style: ErrorStyle = PROBLEM_BODIES
    refine: Refine | None = None
    scope: Scope | None = None
    seal: Seal | None = None
    admit: Admit | None = None
    published: Published | None = None
    reply: Reply | None = None
    refusals: tuple[tuple[type[Refusal], str], ...] = ()
    accepted_status: int = 200
    republish: bool = False


def _identify_light(document: Any, verified: Verified, now: float) -> Identity:
    return Identity(
        message_id=verified.message_id or document["id"],
        key=document["data"]["account"]["uuid"],
    )


def light(settings: Settings, registry: Registry) -> Source:
    """Light's signed webhooks, published to `light.events` keyed by account uuid (a tenant's
    Light app posts to `/webhooks/light/<tenant>`)."""
    event_schemas = {name: f"light/events/{name}.json" for name in LIGHT_EVENT_TYPES}
    return Source(
        name="light",
        path="/webhooks/light",
        topic=topics.LIGHT_EVENTS,
        summary="Light webhooks (enrollment, account and location events)",
        authenticator=TenantAuthenticator("light", registry, settings),
        scope=tenancy.LIGHT,
        schemas=TypedSchemas("light/envelope.json", event_schemas, type_field="type"),
        identify=_identify_light,
        schema_paths=tuple(event_schemas.values()),
    )


def _identify_wattshift(document: Any, verified: Verified, now: float) -> Identity:
    return Identity(message_id=document["id"], key=document["data"]["homeId"])


def wattshift(settings: Settings, registry: Registry) -> Source:
    """WattShift price-signal webhooks (`x-ws-api-key`), keyed by homeId."""
    path = "wattshift/price-signal.json"
    return Source(
        name="wattshift",
        path="/webhooks/wattshift",
        topic=topics.WATTSHIFT_PRICE_SIGNALS,
        summary="WattShift price-signal webhooks",
        authenticator=TenantAuthenticator("wattshift", registry, settings),
        scope=tenancy.WATTSHIFT,
        schemas=TypedSchemas(path, {WATTSHIFT_PRICE_SIGNAL: path}, type_field="type"),
        identify=_identify_wattshift,
        schema_paths=(path,),
        refine=check_intervals,
    )


def content_id(document: Any) -> str:
    """An id for a document that carries none: the hash of its canonical JSON."""
    return "sha256:" + content_hash(document)


BRIGHT_DEDUP_SECONDS = 60


def _identify_bright(document: Any, verified: Verified, now: float) -> Identity:
    """Bright sends no event id. Its `eventId`, when a body has one; else the hash of the body,
    which includes `occurredAt` when it is there; a body with neither is the same report only
    within the minute it was received, so `lastSeen` keeps moving on identical bodies."""
    message_id = document.get("eventId") or content_id(document)
    if not document.get("eventId") and not document.get("occurredAt"):
        message_id += f":{int(now // BRIGHT_DEDUP_SECONDS)}"
    return Identity(message_id=message_id, key=document["accountId"])


BRIGHT_PERSONAL = ("email", "username", "personalNumber")


async def _drop_personal(app: web.Application, document: Any) -> None:
    """Bright's report carries an email, a username and a personal number gridhook has no use
    for (the account and user ids say who): they are not published, nor kept."""
    for name in BRIGHT_PERSONAL:
        document.pop(name, None)


def bright(settings: Settings, registry: Registry) -> Source:
    """Bright report events (`x-api-key`), keyed by accountId, published without the personal
    data a report may carry (`_drop_personal`)."""
    path = "bright/report-event.json"
    return Source(
        name="bright",
        path="/webhooks/bright",
        topic=topics.BRIGHT_EVENTS,
        summary="Bright Energy report events (lastSeen, accountCreated, accountDeleted)",
        authenticator=TenantAuthenticator("bright", registry, settings),
        scope=tenancy.BRIGHT,
        schemas=TypedSchemas(path, dict.fromkeys(BRIGHT_EVENT_TYPES, path), type_field="type"),
        identify=_identify_bright,
        schema_paths=(path,),
        seal=_drop_personal,
        republish=True,
    )
