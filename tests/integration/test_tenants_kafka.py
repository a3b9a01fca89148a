"""Two utilities and two Light apps on one gridhook, as real processes on the real broker: each
utility has its own identity provider and its own head-end emulator; the same client and
meter ids are synced, bound and read under both without touching each other."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization

from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.topics import METER_READS
from tests.support.bind_stack import ADMIN, NO_FAULTS, Stack, bind_stack, head_end_key
from tests.support.kafka import commit_at_end
from tests.support.light_payloads import OTHER_SECRET, SECRET, light_event, signed
from tests.support.partner_payloads import customer_body
from tests.support.processes import free_port, http_ok
from tests.support.tokens import AUDIENCE, SigningKey, ec_key, write_jwks
from tests.support.waiting import eventually

GRIDCO_ISSUER = "https://idp.gridco.example"
GRIDCO_ADMIN = "gridco-admin-token-0123456789"
GRIDCO_SIGNER = ec_key("gridco-idp")
MAC_DEFAULT = "00:1B:C5:00:00:0D:EF:01"
MAC_GRIDCO = "00:1B:C5:00:00:06:C0:01"


def write_pem(path: Path, key: SigningKey) -> Path:
    path.write_bytes(
        key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def tenants_file(workdir: Path, gridco_head_end: str) -> Path:
    write_jwks(workdir / "gridco-jwks.json", GRIDCO_SIGNER)
    path = workdir / "tenants.toml"
    path.write_text(
        f"""
[tenants.gridco]
admin_tokens = ["{GRIDCO_ADMIN}"]
[tenants.gridco.powerbox]
issuer = "{GRIDCO_ISSUER}"
audience = "{AUDIENCE}"
jwks = "{workdir / "gridco-jwks.json"}"
gateway_url = "{gridco_head_end}"
[tenants.gridco.light]
secrets = ["{OTHER_SECRET}"]
"""
    )
    return path


class Gridco:
    """The second utility's CIS and installers, on the same ingress."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def headers(self) -> dict[str, str]:
        token = GRIDCO_SIGNER.token(iss=GRIDCO_ISSUER)
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        url = f"{self.stack.base}{path}"
        raw = orjson.dumps(body)
        async with self.stack.session.post(url, data=raw, headers=self.headers()) as answer:
            text = await answer.read()
            return answer.status, orjson.loads(text) if text else None

    async def read(self, path: str, token: str = GRIDCO_ADMIN) -> tuple[int, Any]:
        url = f"{self.stack.base}{path}"
        headers = {"Authorization": f"Bearer {token}"}
        async with self.stack.session.get(url, headers=headers) as answer:
            text = await answer.read()
            return answer.status, orjson.loads(text) if text else None

    async def shown(self, path: str, test: Any, what: str, token: str = GRIDCO_ADMIN) -> Any:
        async def probe() -> Any:
            status, body = await self.read(path, token)
            return body if status == 200 and test(body) else None

        return await eventually(probe, 60, what)


async def devices(stack: Stack, head_end: str, meter: str) -> list[tuple[str, str]]:
    """The devices on `meter`'s HAN at `head_end`, and the bind id each joined by."""
    async with stack.session.get(f"{head_end}/v1/meters/{meter}/devices") as answer:
        found = await answer.json()
        return sorted((device["macAddress"], device["bindId"]) for device in found["devices"])


async def test_two_utilities_share_a_meter_id_and_never_meet(kafka: str, tmp_path: Path) -> None:
    """The same clientId and meterId under two utilities are two customers and two meters:
    each bind reaches its own utility's head-end only, each head-end's reads land on its own
    meter (none dead-lettered as another device's), each admin token reads its own, and the
    other's ids, tokens and webhook secrets are refused."""
    gridco_port = free_port()
    gridco_head_end = f"http://127.0.0.1:{gridco_port}"
    calendar = {
        "GRIDHOOK_EMULATOR_EPOCH": str(time.time()),
        "GRIDHOOK_EMULATOR_DAY_SECONDS": "86.4",
        "GRIDHOOK_EMULATOR_READ_MINUTES": "15",
    }
    overrides = (
        NO_FAULTS
        | calendar
        | {
            "GRIDHOOK_TENANTS_FILE": str(tenants_file(tmp_path, gridco_head_end)),
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_EMULATOR_TOKEN_KEY": str(head_end_key(tmp_path)),
        }
    )
    async with bind_stack(kafka, tmp_path, overrides, forwarder=True) as stack:
        await stack.start(
            "emulator-gridco",
            ["emulator"],
            GRIDHOOK_EMULATOR_PORT=str(gridco_port),
            GRIDHOOK_EMULATOR_DB=str(tmp_path / "gridco-head-end.db"),
            GRIDHOOK_POWERBOX_ISSUER=GRIDCO_ISSUER,
            GRIDHOOK_EMULATOR_TOKEN_KEY=str(write_pem(tmp_path / "gridco.pem", GRIDCO_SIGNER)),
        )
        await eventually(lambda: http_ok(f"{gridco_head_end}/healthz"), 30, "gridco's head-end")
        group = f"measurements-{uuid.uuid4().hex[:8]}"
        await commit_at_end(kafka, group, [METER_READS])
        await stack.start("measurements", ["consume", "measurements", "--group", group])
        gridco = Gridco(stack)

        client, meter = f"client-{uuid.uuid4().hex[:6]}", f"m-{uuid.uuid4().hex[:6]}"
        await stack.sync([meter], client)
        status, synced = await gridco.post("/v1/powerbox/customer", customer_body(client, [meter]))
        assert (status, synced["clientId"]) == (200, client)
        await gridco.shown(
            f"/v1/powerbox/customers/{client}",
            lambda body: body["clientId"] == f"gridco:{client}",
            "gridco's customer",
        )

        assert await stack.bind(client, meter, MAC_DEFAULT) == 200
        bind = {
            "hemProfileId": synced["hemProfileId"],
            "macAddress": MAC_GRIDCO,
            "installCode": "83FED3407A939723A5C639B26916D505C3B5",
            "meterId": meter,
            "actionCode": 1,
        }
        status, accepted = await gridco.post("/v1/powerbox/bind", bind)
        assert status == 200
        await stack.wait_for_state(meter, "bound")
        mine = await gridco.shown(
            f"/v1/powerbox/meters/{meter}",
            lambda body: body["bindState"] == "bound",
            "gridco's meter bound",
        )
        assert mine["deviceMac"] == MAC_GRIDCO
        theirs = await stack.meter(meter)
        assert theirs is not None
        assert theirs["deviceMac"] == MAC_DEFAULT
        assert [mac for mac, _ in await devices(stack, stack.emulator, meter)] == [MAC_DEFAULT]
        assert await devices(stack, gridco_head_end, meter) == [(MAC_GRIDCO, accepted["bindId"])]
        status, _ = await gridco.read(f"/v1/powerbox/binds/{accepted['bindId']}")
        assert status == 200

        today = datetime.now(UTC).date()
        window = f"from={today - timedelta(days=1)}&to={today + timedelta(days=3)}"
        path = f"/v1/meters/{meter}/measurements?{window}&source=han"
        for token in (GRIDCO_ADMIN, ADMIN):
            await gridco.shown(
                path,
                lambda body: sum(i["quality"] == "actual" for i in body["intervals"]) >= 4,
                f"intervals from reads under {token[:6]}",
                token,
            )
        metrics = await (await stack.session.get(f"{stack.base}/metrics")).text()
        assert 'gridhook_meter_reads_total{outcome="dead_lettered"} 0.0' in metrics

        # the other tenant's ids, tokens and secrets
        assert (await gridco.read(f"/v1/powerbox/meters/gridco:{meter}", ADMIN))[0] == 404
        assert (await gridco.read(f"/v1/powerbox/binds/{accepted['bindId']}", ADMIN))[0] == 404
        foreign_meter = bind | {"meterId": f"gridco:{meter}", "macAddress": MAC_DEFAULT}
        async with stack.session.post(
            f"{stack.base}/v1/powerbox/bind",
            data=orjson.dumps(foreign_meter),
            headers=stack.headers(),
        ) as refused:
            assert (refused.status, await refused.read()) == (422, b"")
        default_customer = bind | {"hemProfileId": hem_profile_id(client), "actionCode": 0}
        assert (await gridco.post("/v1/powerbox/bind", default_customer))[0] == 404
        account = f"acct-{uuid.uuid4().hex[:6]}"
        for path_, secret, expected in (
            ("/webhooks/light/gridco", SECRET, 401),
            ("/webhooks/light", OTHER_SECRET, 401),
            ("/webhooks/light/gridco", OTHER_SECRET, 200),
        ):
            raw, headers = signed(
                light_event("account.created", account), secret=secret, now=time.time()
            )
            async with stack.session.post(f"{stack.base}{path_}", data=raw, headers=headers) as r:
                assert r.status == expected
        await gridco.shown(f"/v1/accounts/{account}", lambda body: True, "gridco's Light account")
        assert (await gridco.read(f"/v1/accounts/{account}", ADMIN))[0] == 404
