"""Two utilities and two Light apps on one ingress (in-memory Kafka, a real SQLite store): each
credential opens its own tenant only, identifiers are scoped in keys, bodies, headers and
reads, and a tenant past its rate is 429 before its body is read."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridhook.contract.codec import decode, tenant_of
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.settings import Settings
from gridhook.state.store import Store
from gridhook.state.transitions import RECONCILERS
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import (
    OTHER_SECRET,
    SECRET,
    light_event,
    public_text,
    sign_v1a,
    signed,
)
from tests.support.partner_payloads import bind_payload, customer_payload
from tests.support.state_events import Recorded, applications
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, rsa_key, write_jwks

GRIDCO_ISSUER = "https://idp.gridco.example"
DEFAULT_ADMIN = "default-admin-token"
GRIDCO_ADMIN = "gridco-admin-token"
GRIDCO_NEXT_ADMIN = "gridco-next-admin-token"  # its second token, as while rotating
UTILITY_KEY = rsa_key("utility-1")
GRIDCO_KEY = ec_key("gridco-1")
GRIDCO_LIGHT_KEY = Ed25519PrivateKey.generate()
GRIDCO_BURST = 20

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
async def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(url, writer=True)
    await store.migrate()
    await store.close()
    return url


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, publisher: InMemoryPublisher, tmp_path: Path, store_url: str
) -> TestClient[Any, Any]:
    write_jwks(tmp_path / "utility.json", UTILITY_KEY)
    write_jwks(tmp_path / "gridco.json", GRIDCO_KEY)
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        f"""
[tenants.gridco]
admin_tokens = ["{GRIDCO_ADMIN}", "{GRIDCO_NEXT_ADMIN}"]
rate = 1
burst = {GRIDCO_BURST}
[tenants.gridco.powerbox]
issuer = "{GRIDCO_ISSUER}"
audience = "{AUDIENCE}"
jwks = "{tmp_path / "gridco.json"}"
gateway_url = "http://127.0.0.1:1"
[tenants.gridco.light]
secrets = ["{OTHER_SECRET}"]
public_keys = ["{public_text(GRIDCO_LIGHT_KEY)}"]
"""
    )
    settings = Settings.from_env(
        {
            "GRIDHOOK_TENANTS_FILE": str(tenants),
            "GRIDHOOK_POWERBOX_JWKS": str(tmp_path / "utility.json"),
            "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
            "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_ADMIN_TOKEN": DEFAULT_ADMIN,
            "GRIDHOOK_DATABASE_URL": store_url,
            "GRIDHOOK_READ_YOUR_WRITES_WAIT": "0.5",
        }
    )
    app = ingress_app(settings, publisher, store=Store(store_url), clock=None)
    return await aiohttp_client(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def post(
    client: TestClient[Any, Any], path: str, body: Any, headers: dict[str, str]
) -> tuple[int, bytes]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(path, data=raw, headers=headers)
    return response.status, await response.read()


async def apply_published(publisher: InMemoryPublisher, store_url: str, topic: str) -> None:
    """Apply what the ingress published on `topic` to the store, as the applier would."""
    events = [
        Recorded(topic, decode(record.key, record.value, record.headers), seq)
        for seq, record in enumerate(publisher.published(topic))
    ]
    store = Store(store_url, writer=True)
    await store.apply(applications(events), reconcilers=RECONCILERS)
    await store.close()


async def read(client: TestClient[Any, Any], path: str, token: str) -> tuple[int, Any]:
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    text = await response.read()
    return response.status, orjson.loads(text) if text else None


async def test_the_same_client_and_meter_under_two_utilities_are_two_customers(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, store_url: str
) -> None:
    """Each utility's token decides its tenant: its sync is keyed, stored and read under its
    scope, answered with its own clientId, and the other utility's admin token does not see it."""
    default_status, default_reply = await post(
        client, "/v1/powerbox/customer", customer_payload(), bearer(UTILITY_KEY.token())
    )
    gridco_token = GRIDCO_KEY.token(iss=GRIDCO_ISSUER)
    gridco_status, gridco_reply = await post(
        client, "/v1/powerbox/customer", customer_payload(rate="R2"), bearer(gridco_token)
    )
    assert (default_status, gridco_status) == (200, 200)
    assert orjson.loads(default_reply) == {
        "clientId": "client-9",
        "hemProfileId": hem_profile_id("client-9"),
    }
    assert orjson.loads(gridco_reply) == {
        "clientId": "client-9",
        "hemProfileId": hem_profile_id("gridco:client-9"),
    }
    events = [decode(r.key, r.value, r.headers) for r in publisher.published("powerbox.customers")]
    assert [(e.key, tenant_of(e)) for e in events] == [
        (b"client-9", "default"),
        (b"gridco:client-9", "gridco"),
    ]
    gridco_body = orjson.loads(events[1].data)
    assert gridco_body["customerSites"][0]["meters"][0]["meterId"] == "gridco:123456789"

    await apply_published(publisher, store_url, "powerbox.customers")
    status, mine = await read(client, "/v1/powerbox/customers/client-9", GRIDCO_ADMIN)
    assert status == 200
    assert mine["clientId"] == "gridco:client-9"
    assert [meter["meterId"] for meter in mine["meters"]] == ["gridco:123456789"]
    assert mine["meters"][0]["facts"]["listed_by:gridco:client-9"]["value"]["rateCode"] == "R2"
    status, theirs = await read(client, "/v1/powerbox/customers/client-9", DEFAULT_ADMIN)
    assert status == 200
    assert [meter["meterId"] for meter in theirs["meters"]] == ["123456789"]
    assert theirs["meters"][0]["facts"]["listed_by:client-9"]["value"]["rateCode"] == "R1"
    status, _ = await read(client, "/v1/powerbox/meters/gridco:123456789", DEFAULT_ADMIN)
    assert status == 404
    status, _ = await read(client, "/v1/powerbox/meters/123456789", GRIDCO_ADMIN)
    assert status == 200
    assert await read(client, "/v1/powerbox/customers/client-9", GRIDCO_NEXT_ADMIN) == (200, mine)


async def test_a_utility_s_token_under_another_utility_s_issuer_is_refused(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """The issuer chooses whose keys verify the token: gridco's issuer signed by the other
    utility's key, or the other's issuer signed by gridco's key, is 401 and publishes nothing."""
    for token in (UTILITY_KEY.token(iss=GRIDCO_ISSUER), GRIDCO_KEY.token()):
        status, body = await post(
            client, "/v1/powerbox/customer", customer_payload(), bearer(token)
        )
        assert (status, body) == (401, b"")
    assert publisher.published("powerbox.customers") == []


async def test_a_bind_naming_another_utility_s_customer_or_meter_is_refused(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, store_url: str
) -> None:
    """gridco binding the default utility's customer (by its hemProfileId) finds no such meter
    on it (404); the default utility naming gridco's scoped meter is refused (4xx)."""
    await post(client, "/v1/powerbox/customer", customer_payload(), bearer(UTILITY_KEY.token()))
    await apply_published(publisher, store_url, "powerbox.customers")
    gridco = bearer(GRIDCO_KEY.token(iss=GRIDCO_ISSUER))
    status, _ = await post(
        client,
        "/v1/powerbox/bind",
        bind_payload(hemProfileId=hem_profile_id("client-9"), meterId="123456789"),
        gridco,
    )
    assert status == 404
    status, _ = await post(
        client,
        "/v1/powerbox/bind",
        bind_payload(hemProfileId=hem_profile_id("gridco:client-9"), meterId="gridco:123456789"),
        bearer(UTILITY_KEY.token()),
    )
    assert status == 422
    assert publisher.published("powerbox.bind.requests") == []


async def test_each_light_app_s_webhooks_open_only_its_own_path(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """gridco's Light app posts to /webhooks/light/gridco under its own secret (or its v1a
    key); the default app's secret there, gridco's secret on the default path, and a path of
    no tenant are refused."""
    body = light_event("account.created", "acct-1")
    raw, headers = signed(body, secret=OTHER_SECRET, now=time.time())
    assert (await post(client, "/webhooks/light/gridco", raw, headers))[0] == 200
    raw, headers = signed(light_event("account.created", "acct-2"), secret=SECRET, now=time.time())
    assert (await post(client, "/webhooks/light/gridco", raw, headers))[0] == 401
    raw, headers = signed(
        light_event("account.created", "acct-3"), secret=OTHER_SECRET, now=time.time()
    )
    assert (await post(client, "/webhooks/light", raw, headers))[0] == 401
    assert (await post(client, "/webhooks/light/nobody", raw, headers))[0] == 404
    raw = orjson.dumps(light_event("account.created", "acct-4"))
    headers = sign_v1a(GRIDCO_LIGHT_KEY, raw, "msg_v1a", int(time.time()))
    assert (await post(client, "/webhooks/light/gridco", raw, headers))[0] == 200
    headers = sign_v1a(Ed25519PrivateKey.generate(), raw, "msg_v1a_forged", int(time.time()))
    assert (await post(client, "/webhooks/light/gridco", raw, headers))[0] == 401
    events = [decode(r.key, r.value, r.headers) for r in publisher.published("light.events")]
    assert [(e.key, tenant_of(e)) for e in events] == [
        (b"gridco:acct-1", "gridco"),
        (b"gridco:acct-4", "gridco"),
    ]
    assert orjson.loads(events[0].data)["data"]["account"]["uuid"] == "gridco:acct-1"


async def test_a_tenant_past_its_burst_is_429_before_its_body_is_read(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """Past its burst gridco is answered 429 with Retry-After, even for a body that would be
    malformed; the default tenant, unlimited, is still served; the metric counts by tenant."""
    token = bearer(GRIDCO_KEY.token(iss=GRIDCO_ISSUER))
    statuses = [
        (await post(client, "/v1/powerbox/customer", customer_payload(), token))[0]
        for _ in range(GRIDCO_BURST)
    ]
    assert statuses == [200] * GRIDCO_BURST
    response = await client.post("/v1/powerbox/customer", data=b"{not json", headers=token)
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    status, _ = await post(
        client, "/v1/powerbox/customer", customer_payload(), bearer(UTILITY_KEY.token())
    )
    assert status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'gridhook_rate_limited_total{tenant="gridco"} 1.0' in metrics
    assert f'gridhook_tenant_requests_total{{tenant="gridco"}} {GRIDCO_BURST + 1}.0' in metrics
