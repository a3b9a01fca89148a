"""Outbound calls by tenant: Light, WattShift and the head-end are each reached at the
tenant's own endpoint, with its own credentials and its identifiers unscoped, over real HTTP
to two recording servers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from consumers.bind.gateway import TenantGateways
from gridhook.contract.settings import Settings
from gridhook.contract.tenants import CURRENT_TENANT, DEFAULT, Registry
from gridhook.partners.tenancy import TenantLight, TenantWattShift

ServerFactory = Callable[..., Awaitable[TestServer]]
Calls = list[tuple[str, str, str]]
"""(method, path, credential) as a partner server received them."""


def recording(calls: Calls) -> web.Application:
    """A partner that answers every call it knows and records what it was sent."""

    async def record(request: web.Request) -> web.Response:
        credential = request.headers.get("Authorization") or request.headers.get("x-ws-api-key")
        calls.append((request.method, request.path, credential or ""))
        if request.path.endswith("/tokens"):
            return web.json_response({"token": "account-token"})
        if request.path == "/v1/account/billing/invoices":
            return web.json_response({"invoices": []})
        if request.path == "/v1/homes/create":
            return web.json_response({"id": "ws_home_1"})
        return web.json_response({"status": "pending"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


@pytest.fixture
async def partners(aiohttp_server: ServerFactory, tmp_path: Path) -> tuple[Registry, Calls, Calls]:
    """A registry whose default tenant and `gridco` each have their own partner server."""
    default_calls: Calls = []
    gridco_calls: Calls = []
    default = await aiohttp_server(recording(default_calls))
    gridco = await aiohttp_server(recording(gridco_calls))
    gridco_url = str(gridco.make_url("")).rstrip("/")
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    (tmp_path / "tenants.toml").write_text(
        f"""
[tenants.gridco.powerbox]
issuer = "https://idp.gridco.example"
jwks = "{tmp_path / "jwks.json"}"
gateway_url = "{gridco_url}"
[tenants.gridco.light]
secrets = ["whsec_c2VjcmV0LWZvci1ncmlkY28tMDEyMzQ1Njc4OQ=="]
app_token = "gridco-app-token"
api_url = "{gridco_url}"
[tenants.gridco.wattshift]
api_keys = ["gridco-webhook-key"]
client_key = "gridco-client-key"
api_url = "{gridco_url}"
"""
    )
    default_url = str(default.make_url("")).rstrip("/")
    settings = Settings.from_env(
        {
            "GRIDHOOK_TENANTS_FILE": str(tmp_path / "tenants.toml"),
            "GRIDHOOK_LIGHT_API_URL": default_url,
            "GRIDHOOK_LIGHT_APP_TOKEN": "default-app-token",
            "GRIDHOOK_WATTSHIFT_API_URL": default_url,
            "GRIDHOOK_WATTSHIFT_CLIENT_KEY": "default-client-key",
            "GRIDHOOK_GATEWAY_URL": default_url,
        }
    )
    return Registry(settings), default_calls, gridco_calls


async def test_light_and_wattshift_are_called_as_the_task_s_tenant(
    partners: tuple[Registry, Calls, Calls],
) -> None:
    """A task working for gridco reaches gridco's Light and WattShift with gridco's app token
    and client key, the account unscoped, the home id it gets back scoped; the default
    tenant's task reaches the default endpoints only."""
    registry, default_calls, gridco_calls = partners
    light, wattshift = TenantLight(registry, 2), TenantWattShift(registry, 2)
    try:
        CURRENT_TENANT.set("gridco")
        assert await light.invoices("gridco:acct-1") == []
        home = await wattshift.create_home("gridco:inst-1", "Home", "78701", "u1", "p1")
        assert home == "gridco:ws_home_1"
        assert gridco_calls == [
            ("POST", "/v1/app/accounts/acct-1/tokens", "Bearer gridco-app-token"),
            ("GET", "/v1/account/billing/invoices", "Bearer account-token"),
            ("POST", "/v1/homes/create", "gridco-client-key"),
        ]
        assert default_calls == []
        CURRENT_TENANT.set(DEFAULT)
        assert await light.invoices("acct-1") == []
        assert default_calls[0] == (
            "POST",
            "/v1/app/accounts/acct-1/tokens",
            "Bearer default-app-token",
        )
        assert len(gridco_calls) == 3
    finally:
        await light.aclose()
        await wattshift.aclose()


async def test_a_bind_goes_to_the_head_end_of_its_meter_s_tenant(
    partners: tuple[Registry, Calls, Calls],
) -> None:
    """gridco's meter is bound at gridco's head-end, by its own meter and bind ids; the
    default tenant's meter of the same id at the default head-end."""
    registry, default_calls, gridco_calls = partners
    gateways = TenantGateways(registry, 2)
    try:
        await gateways.submit("gridco:bind-1", "gridco:M-1", "00:1B", "CODE", "bind")
        await gateways.status("gridco:bind-1", "gridco:M-1")
        await gateways.submit("bind-2", "M-1", "00:1C", "CODE", "bind")
    finally:
        await gateways.aclose()
    assert [(method, path) for method, path, _ in gridco_calls] == [
        ("PUT", "/v1/requests/bind-1"),
        ("GET", "/v1/requests/bind-1"),
    ]
    assert [(method, path) for method, path, _ in default_calls] == [("PUT", "/v1/requests/bind-2")]
