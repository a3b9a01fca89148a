"""Whatever a client sends, the ingress never answers 5xx (Kafka here always acknowledges)."""

from __future__ import annotations

import string
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gridhook.contract.event_types import LIGHT_EVENT_TYPES
from gridhook.contract.settings import Settings
from gridhook.contract.signatures import sign
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import SECRET, light_event
from tests.support.partner_payloads import (
    bind_payload,
    bright_event,
    customer_payload,
    price_signal,
)
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks

NOW = 1_790_000_000.0
SIGNER = ec_key()
TOKEN = SIGNER.token(exp=2**33)
ROUTES = [
    "/webhooks/light",
    "/webhooks/wattshift",
    "/webhooks/bright",
    "/v1/powerbox/customer",
    "/v1/powerbox/bind",
]
WATTSHIFT_KEY = "ws-key-0123456789"
BRIGHT_KEY = "bright-key-0123456789"

_header_text = st.text(
    alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=60
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def _light_like(draw: st.DrawFn) -> bytes:
    """A Light event with random parts replaced: reaches validation and publishing."""
    event = light_event(draw(st.sampled_from([*LIGHT_EVENT_TYPES, "brand.new_type"])))
    target = draw(st.sampled_from([event, event["data"], event["data"]["account"]]))
    for key in draw(st.lists(st.sampled_from(sorted(target)), max_size=3)):
        if draw(st.booleans()):
            target[key] = draw(_json)
        else:
            target.pop(key, None)
    return orjson.dumps(event)


@st.composite
def _partner_like(draw: st.DrawFn) -> bytes:
    """A PowerBox, WattShift or Bright document with random parts replaced or removed."""
    builders: list[Callable[[], dict[str, Any]]] = [
        customer_payload,
        bind_payload,
        price_signal,
        bright_event,
    ]
    document = draw(st.sampled_from(builders))()
    for key in draw(st.lists(st.sampled_from(sorted(document)), max_size=2)):
        if draw(st.booleans()):
            document[key] = draw(_json)
        else:
            document.pop(key, None)
    return orjson.dumps(document)


@st.composite
def _deep(draw: st.DrawFn) -> bytes:
    """Arrays and objects nested from a little past gridhook's bound to past orjson's, alone
    or as the value of a field of a valid-looking document."""
    depth = draw(st.integers(50, 1500))
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")]))
    nested = opening * depth + "1" + closing * depth
    if draw(st.booleans()):
        return nested.encode()
    document = draw(st.sampled_from([light_event("enrollment.finalized"), bind_payload()]))
    field = draw(st.sampled_from(sorted(document)))
    raw = orjson.dumps(document).decode()
    return raw.replace(f'"{field}":', f'"{field}":{nested},"_was_{field}":', 1).encode()


_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(orjson.dumps),
    _light_like(),
    _partner_like(),
    _deep(),
)
_extra_headers = st.dictionaries(
    st.sampled_from(
        [
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "content-type",
            "authorization",
            "x-ws-api-key",
            "x-something",
        ]
    ),
    _header_text,
    max_size=4,
)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path
) -> TestClient[Any, Any]:
    jwks = tmp_path / "jwks.json"
    write_jwks(jwks, SIGNER)
    settings = Settings.from_env(
        {
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_MAX_BODY_BYTES": "16384",
            "GRIDHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "GRIDHOOK_WATTSHIFT_API_KEYS": WATTSHIFT_KEY,
            "GRIDHOOK_BRIGHT_API_KEYS": BRIGHT_KEY,
            "GRIDHOOK_POWERBOX_JWKS": str(jwks),
            "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
            "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
        }
    )
    return await aiohttp_client(ingress_app(settings, InMemoryPublisher()))


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    body=_bodies,
    sign_it=st.booleans(),
    message_id=_header_text.filter(bool),
    headers=_extra_headers,
    content_type=st.sampled_from(["application/json", "text/plain", "application/json; x=1"]),
)
async def test_no_client_input_causes_a_5xx(
    client: TestClient[Any, Any],
    route: str,
    body: bytes,
    sign_it: bool,
    message_id: str,
    headers: dict[str, str],
    content_type: str,
) -> None:
    """Random bodies, signed or not, with random headers: every answer is below 500."""
    sent = {"Content-Type": content_type, **headers}
    if sign_it:
        # Valid credentials for the route, so that validation and publishing are exercised.
        sent.update(sign("standard-webhooks", SECRET, body, message_id, int(NOW)))
        sent.update({"x-ws-api-key": WATTSHIFT_KEY, "x-api-key": BRIGHT_KEY})
        sent["Authorization"] = f"Bearer {TOKEN}"
    response = await client.post(route, data=body, headers=sent)
    event(f"{route} {response.status}")
    assert response.status < 500, await response.text()
