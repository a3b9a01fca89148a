"""POST /webhooks/light through the real aiohttp app, with an in-memory publisher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.codec import decode
from gridhook.contract.errors import BrokerUnavailable, RecordRejected
from gridhook.contract.settings import Settings
from gridhook.contract.signatures import sign
from service.ingress import keys
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import OTHER_SECRET, SECRET, light_event, signed
from tests.support.waiting import eventually

URL = "/webhooks/light"
NOW = 1_790_000_000.0

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(**overrides: str) -> Settings:
    return Settings.from_env(
        {
            "GRIDHOOK_LIGHT_SECRETS": f"{SECRET},{OTHER_SECRET}",
            "GRIDHOOK_DATABASE_URL": "sqlite:///:memory:",
            **overrides,
        }
    )


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> TestClient[Any, Any]:
    return await aiohttp_client(ingress_app(make_settings(), publisher))


async def post(client: TestClient[Any, Any], body: Any, **kwargs: Any) -> tuple[int, Any]:
    raw, headers = signed(body, now=NOW, **kwargs)
    response = await client.post(URL, data=raw, headers=headers)
    text = await response.read()
    return response.status, (orjson.loads(text) if text else None)


async def test_signed_valid_webhook_is_published_before_200(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """A valid webhook is answered 200 with its id and published keyed by account uuid."""
    body = light_event("enrollment.plan_accepted", "acct-42")
    raw, headers = signed(body, now=NOW, message_id="msg_1")
    response = await client.post(URL, data=raw, headers=headers)
    assert response.status == 200
    assert await response.json() == {"status": "accepted", "id": "msg_1"}
    (record,) = publisher.published("light.events")
    event = decode(record.key, record.value, record.headers)
    assert (event.id, event.type, event.source, event.key) == (
        "msg_1",
        "enrollment.plan_accepted",
        "light",
        b"acct-42",
    )
    assert event.data == raw


async def test_any_configured_secret_passes(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """During rotation, a signature by either the old or the new secret is accepted."""
    for secret in (SECRET, OTHER_SECRET):
        status, _ = await post(client, light_event("enrollment.finalized"), secret=secret)
        assert status == 200
    assert len(publisher.records) == 2


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: h.pop("webhook-signature"), "missing"),
        (lambda h: h.pop("webhook-id"), "missing"),
        (lambda h: h.pop("webhook-timestamp"), "timestamp"),
        (lambda h: h.update({"webhook-signature": "v1,AAAA"}), "does not match"),
        (lambda h: h.update({"webhook-signature": "v2,abc"}), "no v1"),
        (lambda h: h.update({"webhook-id": "msg_other"}), "does not match"),
    ],
)
async def test_missing_or_bad_signature_is_401(
    client: TestClient[Any, Any],
    publisher: InMemoryPublisher,
    mutate: Callable[[dict[str, str]], object],
    reason: str,
) -> None:
    """Without a valid signature: 401 with a problem body, and nothing is published."""
    raw, headers = signed(light_event("enrollment.finalized"), now=NOW)
    mutate(headers)
    response = await client.post(URL, data=raw, headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert reason in problem["detail"]
    assert publisher.records == []


async def test_wrong_secret_is_401(client: TestClient[Any, Any]) -> None:
    """A signature by a secret that is not configured is refused."""
    stranger = "whsec_" + "bm90LWNvbmZpZ3VyZWQtc2VjcmV0LXZhbHVlLTEyMzQ="
    status, problem = await post(client, light_event("enrollment.finalized"), secret=stranger)
    assert status == 401
    assert stranger not in orjson.dumps(problem).decode()


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-301, False), (-299, True), (299, True), (301, False)]
)
async def test_timestamp_tolerance_is_300_seconds_both_ways(
    client: TestClient[Any, Any], offset: int, accepted: bool
) -> None:
    """Replayed (old) and future timestamps beyond 300 s are 401; within it they pass."""
    status, _ = await post(client, light_event("enrollment.finalized"), timestamp=int(NOW) + offset)
    assert status == (200 if accepted else 401)


async def test_body_that_is_not_json_is_400(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """A correctly signed body that is not JSON is 400."""
    status, problem = await post(client, b"{not json")
    assert status == 400
    assert problem["status"] == 400
    assert publisher.records == []


async def test_schema_violation_is_422_with_pointers_and_no_values(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """Missing fields and wrong types are listed as JSON pointers; values are not echoed."""
    body = light_event("location.service_active")
    del body["data"]["location"]
    body["data"]["account"]["uuid"] = 12345
    body["data"]["account"]["email"] = {"secret-ish": "jane.doe@example.com"}
    status, problem = await post(client, body)
    assert status == 422
    pointers = {error["pointer"] for error in problem["errors"]}
    assert pointers == {"/data/location", "/data/account/uuid", "/data/account/email"}
    assert "jane.doe" not in orjson.dumps(problem).decode()
    assert publisher.records == []


async def test_unknown_fields_are_allowed(client: TestClient[Any, Any]) -> None:
    """Light adds fields: extra properties anywhere pass validation."""
    body = light_event("enrollment.identity_updated")
    body["new_top_level"] = {"x": 1}
    body["data"]["account"]["brand_new_field"] = True
    status, _ = await post(client, body)
    assert status == 200


async def test_unknown_event_type_is_published_and_counted(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """A new type with a valid envelope is accepted, published with its type, counted apart."""
    body = light_event("enrollment.finalized")
    body["type"] = "account.autopay_enabled"
    status, _ = await post(client, body)
    assert status == 200
    (record,) = publisher.published("light.events")
    assert decode(record.key, record.value, record.headers).type == "account.autopay_enabled"
    metrics = await (await client.get("/metrics")).text()
    sample = '{event_type="account.autopay_enabled",source="light"} 1.0'
    assert f"gridhook_unknown_event_types_total{sample}" in metrics


async def test_unknown_event_type_still_needs_a_valid_envelope(
    client: TestClient[Any, Any],
) -> None:
    """An unknown type without an account is a 422."""
    body = {
        "id": "evt_1",
        "type": "account.other",
        "created_at": "2026-01-01T00:00:00Z",
        "data": {},
    }
    status, problem = await post(client, body)
    assert status == 422
    assert [e["pointer"] for e in problem["errors"]] == ["/data/account"]


async def test_body_over_the_limit_is_413(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """A body larger than GRIDHOOK_MAX_BODY_BYTES is 413, signed or not."""
    client = await aiohttp_client(
        ingress_app(make_settings(GRIDHOOK_MAX_BODY_BYTES="2000"), publisher)
    )
    body = light_event("enrollment.finalized")
    body["padding"] = "x" * 3000
    status, problem = await post(client, body)
    assert status == 413
    assert problem["title"] == "Request body too large"
    chunked = await client.post(
        URL,
        data=_chunks(b"x" * 5000),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status == 413
    assert publisher.records == []


async def _chunks(data: bytes) -> Any:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", None, ";0*"],
)
async def test_not_json_media_type_is_415(
    client: TestClient[Any, Any], content_type: str | None
) -> None:
    """Only application/json is accepted."""
    raw, headers = signed(light_event("enrollment.finalized"), now=NOW)
    headers.pop("Content-Type")
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post(URL, data=raw, headers=headers)
    assert response.status == 415


async def test_duplicate_webhook_id_is_200_without_publishing_again(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """Light's retry of an accepted webhook is answered 200 'duplicate' and published once."""
    body = light_event("account.payment_failed")
    first = await post(client, body, message_id="msg_retry")
    second = await post(client, body, message_id="msg_retry")
    assert first == (200, {"status": "accepted", "id": "msg_retry"})
    assert second == (200, {"status": "duplicate", "id": "msg_retry"})
    assert len(publisher.records) == 1


async def test_kafka_failure_is_503_with_retry_after(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """When the publisher fails, the answer is 503 with Retry-After, and a retry publishes once."""
    publisher.failure = BrokerUnavailable("down")
    raw, headers = signed(light_event("enrollment.finalized"), now=NOW, message_id="msg_503")
    response = await client.post(URL, data=raw, headers=headers)
    assert response.status == 503
    assert response.headers["Retry-After"].isdigit()
    publisher.failure = None
    retried = await client.post(URL, data=raw, headers=headers)
    assert retried.status == 200
    assert len(publisher.records) == 1


async def test_permanent_kafka_error_is_still_503_not_500(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """Whatever Kafka answers, the client sees 503, never another 5xx."""
    publisher.failure = RecordRejected("topic missing")
    status, _ = await post(client, light_event("enrollment.finalized"))
    assert status == 503


async def test_publish_timeout_is_503_and_the_retry_joins_the_publish_in_flight(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """Kafka slower than the timeout: 503; Light's retry does not publish a second record."""
    client = await aiohttp_client(
        ingress_app(make_settings(GRIDHOOK_PUBLISH_TIMEOUT="0.2"), publisher)
    )
    publisher.stall = asyncio.Event()
    raw, headers = signed(light_event("enrollment.finalized"), now=NOW, message_id="msg_slow")
    first = await client.post(URL, data=raw, headers=headers)
    assert first.status == 503
    assert "Retry-After" in first.headers
    retry = asyncio.create_task(client.post(URL, data=raw, headers=headers))
    publisher.stall.set()
    second = await retry
    assert second.status == 200
    third = await client.post(URL, data=raw, headers=headers)
    assert (await third.json())["status"] == "duplicate"
    assert len(publisher.records) == 1


async def test_stripe_and_github_schemes(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """The signature scheme is a setting; each scheme accepts its own and refuses others."""
    for scheme in ("stripe", "github"):
        client = await aiohttp_client(
            ingress_app(make_settings(GRIDHOOK_LIGHT_SIGNATURE_SCHEME=scheme), publisher)
        )
        raw = orjson.dumps(light_event("enrollment.finalized"))
        good = sign(scheme, SECRET, raw, "unused", int(NOW))
        response = await client.post(
            URL, data=raw, headers={**good, "Content-Type": "application/json"}
        )
        assert response.status == 200, scheme
        tampered = await client.post(
            URL, data=raw + b" ", headers={**good, "Content-Type": "application/json"}
        )
        assert tampered.status == 401, scheme
        standard = sign("standard-webhooks", SECRET, raw, "m", int(NOW))
        wrong_scheme = await client.post(
            URL, data=raw, headers={**standard, "Content-Type": "application/json"}
        )
        assert wrong_scheme.status == 401, scheme
    assert len(publisher.records) == 2


async def test_stripe_timestamp_is_checked(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """The Stripe-style scheme refuses an old `t=`."""
    client = await aiohttp_client(
        ingress_app(make_settings(GRIDHOOK_LIGHT_SIGNATURE_SCHEME="stripe"), publisher)
    )
    raw = orjson.dumps(light_event("enrollment.finalized"))
    old = sign("stripe", SECRET, raw, "unused", int(NOW) - 1000)
    response = await client.post(URL, data=raw, headers={**old, "Content-Type": "application/json"})
    assert response.status == 401


async def test_no_configured_secret_refuses_everything(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """With GRIDHOOK_LIGHT_SECRETS empty, every webhook is 401."""
    client = await aiohttp_client(ingress_app(Settings.from_env({}), publisher))
    raw, headers = signed(light_event("enrollment.finalized"), now=NOW)
    assert (await client.post(URL, data=raw, headers=headers)).status == 401


async def test_health_readiness_metrics_and_openapi(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """healthz is always 200; readyz follows the publisher; metrics count by status; OpenAPI 3.1."""
    client = await aiohttp_client(ingress_app(make_settings(), publisher))
    assert (await client.get("/healthz")).status == 200
    await eventually(lambda: publisher.ready, 5, "the publisher to connect")
    assert (await client.get("/readyz")).status == 200
    publisher.started = False
    assert (await client.get("/readyz")).status == 503
    publisher.started = True
    await post(client, light_event("enrollment.finalized"))
    await post(client, b"nope")
    metrics = await (await client.get("/metrics")).text()
    assert 'event_type="enrollment.finalized",source="light",status="200"} 1.0' in metrics
    assert 'event_type="",source="light",status="400"} 1.0' in metrics
    assert "gridhook_publish_seconds_bucket" in metrics
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    operation = document["paths"]["/webhooks/light"]["post"]
    assert operation["security"] == [{"light": []}]
    assert set(operation["responses"]) >= {"200", "400", "401", "413", "415", "422", "503"}
    assert len(operation["requestBody"]["content"]["application/json"]["schema"]["anyOf"]) == 11


def test_clock_default_is_wall_time() -> None:
    """The timestamp check uses the real clock unless a test injects one."""
    app = ingress_app(make_settings(), clock=None)
    from service.ingress import keys

    assert abs(app[keys.CLOCK]() - time.time()) < 5


async def test_past_the_in_flight_bound_requests_are_shed_with_503_at_once(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher
) -> None:
    """With GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT requests in flight, a new request gets 503
    with Retry-After 1 without being published, and is counted; once they finish, requests are
    accepted again."""
    publisher.stall = asyncio.Event()
    settings = make_settings(GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT="2")
    client = await aiohttp_client(ingress_app(settings, publisher))
    waiting = [asyncio.create_task(post(client, light_event("account.created"))) for _ in range(2)]
    metrics = client.app[keys.METRICS]
    await eventually(
        lambda: metrics.publishes_in_flight._value.get() == 2, 5, "two publishes in flight"
    )
    raw, headers = signed(light_event("account.created"), now=NOW)
    response = await client.post(URL, data=raw, headers=headers)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert metrics.shed.labels("light")._value.get() == 1
    publisher.stall.set()
    assert [status for status, _ in await asyncio.gather(*waiting)] == [200, 200]
    assert len(publisher.records) == 2
    assert (await post(client, light_event("account.created")))[0] == 200
