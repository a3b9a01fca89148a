"""The read API on the ingress, over a real SQLite store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.codec import CloudEvent
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.settings import Settings
from gridhook.state.store import Store
from gridhook.state.transitions import RECONCILERS
from tests.support.bind_states import put_bind_states
from tests.support.ingress import ingress_app
from tests.support.partner_payloads import price_signal
from tests.support.state_events import (
    ACCOUNT,
    CLIENT,
    METER,
    START,
    Recorded,
    applications,
    history,
)

TOKEN = "admin-token-for-tests-0123456789"
# The forwarder's decisions of the history's bind cycle, at the minutes its results carry.
BIND_CYCLE = ["bind_pending", "bind_failed", "bind_pending", "bound", "unbind_pending", "unbound"]
BIND_MINUTES = [1, 2, 3, 4, 6, 7]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path
) -> TestClient[Any, Any]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    writer = Store(url, writer=True)
    await writer.migrate()
    await writer.apply(applications(history()), reconcilers=RECONCILERS)
    await put_bind_states(
        writer, BIND_CYCLE, times=[START + timedelta(minutes=m) for m in BIND_MINUTES]
    )
    await writer.close()
    settings = Settings.from_env({"GRIDHOOK_ADMIN_TOKEN": TOKEN, "GRIDHOOK_DATABASE_URL": url})
    return await aiohttp_client(ingress_app(settings, store=Store(url), clock=None))


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/accounts/{ACCOUNT}",
        f"/v1/powerbox/customers/{CLIENT}",
        f"/v1/powerbox/meters/{METER}",
        "/v1/wattshift/homes/h1/price-signal",
        "/v1/bright/accounts/a1",
    ],
)
async def test_every_read_route_needs_the_admin_token(
    client: TestClient[Any, Any], path: str
) -> None:
    """Without the bearer token, or with a wrong one, the read API answers 401."""
    assert (await client.get(path)).status == 401
    wrong = await client.get(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


async def test_account_shows_enrollment_and_locations(client: TestClient[Any, Any]) -> None:
    response = await client.get(f"/v1/accounts/{ACCOUNT}", headers=AUTH)
    assert response.status == 200
    body = await response.json()
    assert body["facts"]["enrollment_finalized"]["value"] is True
    assert body["facts"]["last_payment"]["value"] == "successful"
    assert body["facts"]["last_payment"]["at"] == "2026-11-01T12:30:00.000000Z"
    (location,) = body["locations"]
    assert location["facts"]["service_status"]["value"] == "canceled"


async def test_customer_and_meter(client: TestClient[Any, Any]) -> None:
    customer = await (await client.get(f"/v1/powerbox/customers/{CLIENT}", headers=AUTH)).json()
    assert customer["hemProfileId"] == hem_profile_id(CLIENT)
    assert [meter["meterId"] for meter in customer["meters"]] == [METER]
    meter = await (await client.get(f"/v1/powerbox/meters/{METER}", headers=AUTH)).json()
    assert meter["bindState"] == "unbound"
    assert meter["lastChange"] == "2026-11-01T12:07:00.000000Z"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/unknown",
        "/v1/powerbox/customers/unknown",
        "/v1/powerbox/meters/unknown",
        "/v1/wattshift/homes/unknown/price-signal",
        "/v1/bright/accounts/unknown",
    ],
)
async def test_unknown_ids_are_404(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status == 404
    assert (await response.json())["status"] == 404


async def test_no_admin_token_configured_means_401(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """With GRIDHOOK_ADMIN_TOKEN unset, the read API is closed."""
    settings = Settings.from_env({"GRIDHOOK_DATABASE_URL": "sqlite:///:memory:"})
    client = await aiohttp_client(ingress_app(settings, clock=None))
    response = await client.get(f"/v1/accounts/{ACCOUNT}", headers={"Authorization": "Bearer "})
    assert response.status == 401


async def test_the_price_signal_shows_the_price_in_force_now(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path
) -> None:
    """Beside the whole signal, `current` is the interval that holds the app's now."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    body = price_signal("ws_home_7")
    body["data"]["data"] = [
        {"startTime": "2026-11-22T00:00:00Z", "endTime": "2026-11-22T06:00:00Z", "price": 0.11},
        {"startTime": "2026-11-22T06:00:00Z", "endTime": "2026-11-23T00:00:00Z", "price": 0.27},
    ]
    event = CloudEvent(
        "evt_ws_7", "wattshift", "price_signal.updated", START, b"ws_home_7", orjson.dumps(body)
    )
    writer = Store(url, writer=True)
    await writer.migrate()
    await writer.apply(
        applications([Recorded("wattshift.price-signals", event, 0)]), reconcilers=RECONCILERS
    )
    await writer.close()
    settings = Settings.from_env({"GRIDHOOK_ADMIN_TOKEN": TOKEN, "GRIDHOOK_DATABASE_URL": url})
    at_seven = datetime(2026, 11, 22, 7, tzinfo=UTC).timestamp()
    app = ingress_app(settings, store=Store(url), clock=lambda: at_seven)
    client = await aiohttp_client(app)
    answer = await (
        await client.get("/v1/wattshift/homes/ws_home_7/price-signal", headers=AUTH)
    ).json()
    assert answer["current"]["price"] == 0.27
    assert len(answer["priceSignal"]["data"]) == 2
