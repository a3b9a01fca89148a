"""Whatever a client sends, the ingress never answers 5xx (Kafka here always acknowledges)."""

from __future__ import annotations

import string
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridhook.settings import Settings
from producers.publisher import InMemoryPublisher
from service.app import create_app
from service.signatures import sign
from service.sources import LIGHT_EVENT_TYPES
from tests.light_payloads import SECRET, light_event

NOW = 1_790_000_000.0
ROUTES = ["/webhooks/light"]

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


_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(orjson.dumps),
    _light_like(),
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
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> TestClient[Any, Any]:
    settings = Settings.from_env(
        {
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_MAX_BODY_BYTES": "4096",
            "GRIDHOOK_DATABASE_URL": "sqlite:///:memory:",
        }
    )
    return await aiohttp_client(create_app(settings, InMemoryPublisher(), clock=lambda: NOW))


@settings(
    max_examples=300,
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
        sent.update(sign("standard-webhooks", SECRET, body, message_id, int(NOW)))
    response = await client.post(route, data=body, headers=sent)
    assert response.status < 500, await response.text()
