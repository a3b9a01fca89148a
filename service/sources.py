"""Source declarations: what each partner route needs from the shared ingress pipeline.

A source is data: its route, how it authenticates, how its bodies are validated, which topic it
publishes to and how the message id and partition key are found. The pipeline
(`service/pipeline.py`) does the rest, the same way for every source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridhook.settings import LightSettings
from service.signatures import SIGNATURE_HEADERS, VERIFIERS, SignatureInvalid, Verified, secret_key
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


class AuthenticationFailed(Exception):
    """The request's credentials do not open this source; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Authenticator(Protocol):
    """Checks a request's credentials over its headers and raw body, before anything is parsed."""

    description: str
    header_names: tuple[str, ...]

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        """What the credentials vouch for; `AuthenticationFailed` when they do not."""
        ...


class Schemas(Protocol):
    known_types: tuple[str, ...]

    def check(self, document: Any) -> Checked: ...


@dataclass(frozen=True)
class Identity:
    """The message id (deduplication, `ce_id`) and partition key of an accepted document."""

    message_id: str
    key: str


@dataclass(frozen=True)
class Source:
    """One partner route on the shared pipeline."""

    name: str
    path: str
    topic: str
    summary: str
    authenticator: Authenticator
    schemas: Schemas
    identify: Callable[[Any, Verified], Identity]
    schema_paths: tuple[str, ...] = field(default=())
    problem_bodies: bool = True


class SignatureAuthenticator:
    """HMAC webhook signatures under one of the schemes in `service/signatures.py`."""

    def __init__(self, settings: LightSettings) -> None:
        self._keys = [secret_key(secret) for secret in settings.secrets]
        self._verify = VERIFIERS[settings.scheme]
        self._tolerance = settings.tolerance
        self.description = f"HMAC-SHA256 webhook signature, {settings.scheme} scheme"
        self.header_names = SIGNATURE_HEADERS[settings.scheme]

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        if not self._keys:
            raise AuthenticationFailed("no signing secret is configured for this source")
        try:
            return self._verify(headers, body, self._keys, now, self._tolerance)
        except SignatureInvalid as invalid:
            raise AuthenticationFailed(invalid.reason) from None


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
