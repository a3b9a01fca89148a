"""A store written by the previous release (0.1.0) is migrated and keeps working as the default
tenant's, beside a tenant declared afterwards."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.settings import Settings
from gridhook.state.store import Store
from gridhook.state.tables import MIGRATIONS
from gridhook.state.transitions import RECONCILERS
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.partner_payloads import customer_body
from tests.support.state_events import (
    ACCOUNT,
    CLIENT,
    METER,
    applications,
    customer,
    customer_record,
)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "state-0.1.0.sql"
DEFAULT_ADMIN = "default-admin-token"
GRIDCO_ADMIN = "gridco-admin-token"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def upgraded(tmp_path: Path) -> str:
    """The 0.1.0 store, loaded and migrated by today's code."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as database:
        database.executescript(FIXTURE.read_text())
    url = f"sqlite:///{path}"
    store = Store(url, writer=True)
    assert await store.migrate() == len(MIGRATIONS)
    await store.close()
    return url


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, upgraded: str, tmp_path: Path
) -> TestClient[Any, Any]:
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(f'[tenants.gridco]\nadmin_tokens = ["{GRIDCO_ADMIN}"]\n')
    settings = Settings.from_env(
        {
            "GRIDHOOK_TENANTS_FILE": str(tenants),
            "GRIDHOOK_ADMIN_TOKEN": DEFAULT_ADMIN,
            "GRIDHOOK_DATABASE_URL": upgraded,
        }
    )
    app = ingress_app(settings, InMemoryPublisher(), store=Store(upgraded))
    return await aiohttp_client(app)


async def read(client: TestClient[Any, Any], path: str, token: str) -> tuple[int, Any]:
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    raw = await response.read()
    return response.status, orjson.loads(raw) if raw else None


async def test_the_previous_release_s_store_reads_as_the_default_tenant(
    client: TestClient[Any, Any],
) -> None:
    """Its account, customer, meter and binds read as before with the default admin token;
    the tenant declared since sees none of them."""
    status, account = await read(client, f"/v1/accounts/{ACCOUNT}", DEFAULT_ADMIN)
    assert status == 200
    assert account["accountUuid"] == ACCOUNT
    status, found = await read(client, f"/v1/powerbox/customers/{CLIENT}", DEFAULT_ADMIN)
    assert status == 200
    assert (found["clientId"], found["acctStatus"]) == (CLIENT, "A")
    assert [(m["meterId"], m["bindState"]) for m in found["meters"]] == [(METER, "unbound")]
    status, bind = await read(client, "/v1/powerbox/binds/bind-4", DEFAULT_ADMIN)
    assert (status, bind["state"]) == (200, "bound")
    for path in (
        f"/v1/accounts/{ACCOUNT}",
        f"/v1/powerbox/customers/{CLIENT}",
        f"/v1/powerbox/meters/{METER}",
        "/v1/powerbox/binds/bind-4",
    ):
        assert (await read(client, path, GRIDCO_ADMIN))[0] == 404


async def test_records_keyed_as_before_update_the_same_entities(
    client: TestClient[Any, Any], upgraded: str
) -> None:
    """A record of the default tenant (bare key, no ce_tenant) changes the customer the old
    version stored; the same clientId under gridco is another customer."""
    gridco_body = customer_body(f"gridco:{CLIENT}", [f"gridco:{METER}"], status="S")
    store = Store(upgraded, writer=True)
    await store.apply(
        applications([customer("S", 100), customer_record(gridco_body, "gridco-sync", 101, 101)]),
        reconcilers=RECONCILERS,
    )
    await store.close()
    status, found = await read(client, f"/v1/powerbox/customers/{CLIENT}", DEFAULT_ADMIN)
    assert (status, found["clientId"], found["acctStatus"]) == (200, CLIENT, "S")
    status, gridco = await read(client, f"/v1/powerbox/customers/{CLIENT}", GRIDCO_ADMIN)
    assert (status, gridco["clientId"], gridco["acctStatus"]) == (200, f"gridco:{CLIENT}", "S")
    assert [m["meterId"] for m in gridco["meters"]] == [f"gridco:{METER}"]
