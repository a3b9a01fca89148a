"""The Light and WattShift API emulators: the partners' rules, webhooks, faults, restarts."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from emulator.household import Household, usage_of_day
from emulator.light.app import create_app as light_app
from emulator.scaled_time import add_business_days
from emulator.wattshift.app import create_app as wattshift_app
from gridhook.contract.codec import format_time
from gridhook.contract.settings import Settings
from gridhook.contract.signatures import secret_key, verify_standard
from tests.support.light_payloads import SECRET
from tests.support.waiting import eventually

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
ServerFactory = Callable[..., Awaitable[TestServer]]
APP = {"Authorization": "Bearer app-token-for-tests"}
KEY = {"x-ws-api-key": "ws-client-key"}
ESI = "55512345671234567"


class Receiver:
    """An ingress stand-in that records every webhook it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.json_response({"status": "accepted"})


@pytest.fixture
async def receiver(aiohttp_server: ServerFactory) -> tuple[Receiver, str]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/{source}", found.handle)
    server = await aiohttp_server(app)
    return found, str(server.make_url("/webhooks/"))


def settings(tmp_path: Path, hook_url: str, **overrides: str) -> Settings:
    environ = {
        "GRIDHOOK_HOME": str(tmp_path),
        "GRIDHOOK_LIGHT_APP_TOKEN": "app-token-for-tests",
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_LIGHT_EMULATOR_WEBHOOK_URL": hook_url + "light",
        "GRIDHOOK_WATTSHIFT_CLIENT_KEY": "ws-client-key",
        "GRIDHOOK_WATTSHIFT_API_KEYS": "ws-webhook-key",
        "GRIDHOOK_WATTSHIFT_EMULATOR_WEBHOOK_URL": hook_url + "wattshift",
    }
    return Settings.from_env(environ | overrides)


async def light(
    aiohttp_client: ClientFactory, tmp_path: Path, hook_url: str, **overrides: str
) -> TestClient[Any, Any]:
    return await aiohttp_client(light_app(settings(tmp_path, hook_url, **overrides).light_emulator))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ready_account(client: TestClient[Any, Any], **body: Any) -> str:
    created = await client.post("/v1/app/accounts", json={"uuid": "acct-1", **body}, headers=APP)
    assert created.status == 201
    return "acct-1"


async def accept(
    client: TestClient[Any, Any], account: str, plan: str, start: date, esi: str = ESI
) -> tuple[int, dict[str, Any]]:
    token = await (await client.post(f"/v1/app/accounts/{account}/tokens", headers=APP)).json()
    reply = await client.post(
        "/v1/account/enroll/plans/accept",
        json={
            "plan_uuid": plan,
            "esi_id": esi,
            "service_start_date": start.isoformat(),
            "terms_accepted": True,
        },
        headers={"Authorization": f"Bearer {token['token']}"},
    )
    return reply.status, await reply.json()


async def plans(client: TestClient[Any, Any], account: str) -> tuple[list[dict[str, Any]], date]:
    reply = await client.post(
        f"/v1/app/accounts/{account}/enroll/plans/request", json={"esi_id": ESI}, headers=APP
    )
    assert reply.status == 200
    return (await reply.json())["plans"], parsedate_to_datetime(reply.headers["Date"]).date()


async def test_light_accepts_a_plan_once_by_its_rules(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """POA first, the start date 7 to 30 days ahead, one accept; every call logged."""
    client = await light(aiohttp_client, tmp_path, receiver[1])
    account = await ready_account(client)
    status = (await (await client.get(f"/v1/app/accounts/{account}", headers=APP)).json())["status"]
    assert status == "enrollment_pending_client_agent"
    priced, today = await plans(client, account)
    assert len(priced) == 4
    plan = priced[0]["uuid"]
    assert (await accept(client, account, plan, today + timedelta(days=10)))[1] == {
        "error": {"code": "client_agent_not_recorded"}
    }
    poa = await client.post(f"/v1/app/accounts/{account}/record-client-agent", headers=APP)
    assert poa.status == 200
    too_soon = await accept(client, account, plan, today + timedelta(days=3))
    assert too_soon == (400, {"error": {"code": "invalid_service_start_date"}})
    too_late = await accept(client, account, plan, today + timedelta(days=31))
    assert too_late[0] == 400
    code, accepted = await accept(client, account, plan, today + timedelta(days=10))
    assert code == 200
    assert accepted["status"] == "enrollment_finalized"
    assert accepted["locations"][0]["plan_uuid"] == plan
    again = await accept(client, account, priced[1]["uuid"], today + timedelta(days=10))
    assert again == (409, {"error": {"code": "plan_already_accepted"}})
    log = await (await client.get("/v1/emulator/calls", params={"account": account})).json()
    outcomes = [entry["outcome"] for entry in log if entry["call"] == "plans/accept"]
    assert outcomes.count("accepted") == 1, log


async def test_light_refuses_tokens_it_did_not_mint_and_missing_app_tokens(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """401 invalid_token without the app token, or with an account token it never minted."""
    client = await light(aiohttp_client, tmp_path, receiver[1])
    assert (await client.get("/v1/app/accounts/x")).status == 401
    reply = await client.post(
        "/v1/account/enroll/plans/accept", json={}, headers={"Authorization": "Bearer acct_no"}
    )
    assert (reply.status, await reply.json()) == (401, {"error": {"code": "invalid_token"}})


async def test_priced_plans_expire_after_five_business_days(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """`expires_at` is 5 weekdays after pricing, by Light's clock."""
    client = await light(aiohttp_client, tmp_path, receiver[1])
    account = await ready_account(client)
    reply = await client.post(
        f"/v1/app/accounts/{account}/enroll/plans/request", json={"esi_id": ESI}, headers=APP
    )
    priced = (await reply.json())["plans"]
    light_now = parsedate_to_datetime(reply.headers["Date"])
    expires = datetime.fromisoformat(priced[0]["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - add_business_days(light_now, 5)).total_seconds()) < 5


async def test_a_stale_plan_is_refused_as_expired(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """With stale plans injected, the first plans are expired and accepting one is a 409."""
    client = await light(
        aiohttp_client, tmp_path, receiver[1], GRIDHOOK_LIGHT_EMULATOR_STALE_PLANS="1"
    )
    account = await ready_account(client)
    await client.post(f"/v1/app/accounts/{account}/record-client-agent", headers=APP)
    stale, today = await plans(client, account)
    refused = await accept(client, account, stale[0]["uuid"], today + timedelta(days=10))
    assert refused == (409, {"error": {"code": "plan_expired"}})
    fresh, _ = await plans(client, account)
    assert (await accept(client, account, fresh[0]["uuid"], today + timedelta(days=10)))[0] == 200


async def test_frozen_credit_thaws_by_itself(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """credit_check_frozen for a day of Light's time, then enrollment_pending_client_agent."""
    client = await light(aiohttp_client, tmp_path, receiver[1], GRIDHOOK_EMULATOR_DAY_SECONDS="0.5")
    account = await ready_account(client, credit_frozen_days=1)

    async def status() -> str:
        reply = await client.get(f"/v1/app/accounts/{account}", headers=APP)
        return str((await reply.json())["status"])

    assert await status() == "credit_check_frozen"
    request = await client.post(
        f"/v1/app/accounts/{account}/enroll/plans/request", json={"esi_id": ESI}, headers=APP
    )
    assert request.status == 409
    await eventually(lambda: _is(status(), "enrollment_pending_client_agent"), 5, "credit unfrozen")


async def _is(value: Awaitable[str], expected: str) -> bool:
    return await value == expected


async def test_light_sends_signed_webhooks_and_service_starts_on_its_date(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """plan_accepted and finalized at once, service_active on the start date,
    usage_history_available a day later, all signed; then the location's usage from its start
    to yesterday, each interval the household profile's import (solar by ESI ID) to the Wh."""
    found, url = receiver
    client = await light(
        aiohttp_client,
        tmp_path,
        url,
        GRIDHOOK_EMULATOR_DAY_SECONDS="0.3",
        GRIDHOOK_EMULATOR_SOLAR_HOMES=f"{ESI}:5",
    )
    account = await ready_account(client)
    await client.post(f"/v1/app/accounts/{account}/record-client-agent", headers=APP)
    priced, today = await plans(client, account)
    start = today + timedelta(days=8)
    code, accepted = await accept(client, account, priced[0]["uuid"], start)
    assert code == 200
    await eventually(lambda: len(found.received) == 4, 10, "four webhooks")
    types = []
    for headers, body in found.received:
        lowered = {name.lower(): value for name, value in headers.items()}
        verify_standard(lowered, body, [secret_key(SECRET)], time.time(), 300)
        types.append(body.split(b'"type":"')[1].split(b'"')[0].decode())
    assert types == [
        "enrollment.plan_accepted",
        "enrollment.finalized",
        "location.service_active",
        "location.usage_history_available",
    ]
    reply = await client.get(f"/v1/app/accounts/{account}", headers=APP)
    assert (await reply.json())["status"] == "service_active"
    location = accepted["locations"][0]["uuid"]
    token = await (await client.post(f"/v1/app/accounts/{account}/tokens", headers=APP)).json()
    path = f"/v1/account/locations/{location}/usage"
    query = {"start_date": (start - timedelta(days=3)).isoformat(), "end_date": start.isoformat()}
    usage = await client.get(path, params=query, headers=bearer(token["token"]))
    intervals = (await usage.json())["intervals"]
    midnight = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    assert [(i["start"], i["kwh"]) for i in intervals] == [
        (format_time(datetime.fromtimestamp(at, UTC)), kwh)
        for at, kwh in usage_of_day(Household(5.0), midnight)
    ]
    assert (await client.get(path, params=query, headers=APP)).status == 401
    too_long = {**query, "end_date": (start + timedelta(days=40)).isoformat()}
    refused = await client.get(path, params=too_long, headers=bearer(token["token"]))
    assert refused.status == 400


async def test_light_keeps_its_state_across_a_restart(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """An account made before a restart is there after it."""
    first = await light(aiohttp_client, tmp_path, receiver[1])
    await ready_account(first)
    await first.close()
    second = await light(aiohttp_client, tmp_path, receiver[1])
    assert (await second.get("/v1/app/accounts/acct-1", headers=APP)).status == 200


async def test_light_fault_injection_answers_503(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """At an error rate of 1 every partner call is a 503; the emulator's own log is not."""
    client = await light(
        aiohttp_client, tmp_path, receiver[1], GRIDHOOK_LIGHT_EMULATOR_ERROR_RATE="1"
    )
    assert (await client.get("/v1/app/accounts/x", headers=APP)).status == 503
    assert (await client.get("/v1/emulator/calls")).status == 200


async def test_wattshift_onboards_a_home_once_per_idempotency_key(
    aiohttp_client: ClientFactory, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """utility/get by zip; homes/create twice with one key is one home; solar recorded; the
    home's price signal goes to the ingress with the webhook key."""
    found, url = receiver
    client = await aiohttp_client(wattshift_app(settings(tmp_path, url).wattshift_emulator))
    assert (await client.post("/v1/utility/get", json={"zipcode": "78701"})).status == 401
    utilities = await (
        await client.post("/v1/utility/get", json={"zipcode": "78701"}, headers=KEY)
    ).json()
    utility, plan = utilities[0]["utilityId"], utilities[0]["wsRatePlans"][0]["id"]
    home = {"name": "h", "zipcode": "78701", "utilityId": utility, "ratePlanId": plan}
    made = await client.post(
        "/v1/homes/create", json=home, headers=KEY | {"Idempotency-Key": "inst-1"}
    )
    again = await client.post(
        "/v1/homes/create", json=home, headers=KEY | {"Idempotency-Key": "inst-1"}
    )
    assert (made.status, again.status) == (201, 200)
    home_id = (await made.json())["id"]
    assert (await again.json())["id"] == home_id
    solar = {"homeId": home_id, "solarSystemSizeKw": 6.2, "isNonNetMetered": False}
    assert (await client.post("/v1/homes/solar/create", json=solar, headers=KEY)).status == 201
    shown = await (await client.get(f"/v1/emulator/homes/{home_id}")).json()
    assert shown["solar"] == {"sizeKw": 6.2, "isNonNetMetered": False}
    await eventually(lambda: len(found.received) == 1, 5, "the price signal webhook")
    headers, body = found.received[0]
    assert headers["x-ws-api-key"] == "ws-webhook-key"
    assert home_id.encode() in body
    unknown = {**home, "utilityId": "nope"}
    refused = await client.post("/v1/homes/create", json=unknown, headers=KEY)
    assert (refused.status, await refused.json()) == (400, {"error": {"code": "unknown_utility"}})
