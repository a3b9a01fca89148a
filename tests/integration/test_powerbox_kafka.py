"""PowerBox customer sync then bind, through the real ingress and state applier processes."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from gridhook.contract.codec import decode
from gridhook.contract.identifiers import hem_profile_id
from tests.support.kafka import end_offsets, read_records
from tests.support.partner_payloads import customer_payload
from tests.support.processes import free_port, ingress_with_applier
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks
from tests.support.waiting import eventually

TOKEN = "admin-token-for-tests-0123456789"


async def test_customer_sync_then_bind_reach_kafka(kafka: str, tmp_path: Path) -> None:
    """The sync is published once (posted twice), the store learns it, and the bind it then
    admits is published keyed by meterId with its bind id."""
    signer = ec_key()
    jwks = tmp_path / "jwks.json"
    write_jwks(jwks, signer)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "GRIDHOOK_ADMIN_TOKEN": TOKEN,
        "GRIDHOOK_POWERBOX_JWKS": str(jwks),
        "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
        "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
    }
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    meter_id = f"meter-{uuid.uuid4().hex[:8]}"
    sync = customer_payload()
    sync["clientId"] = client_id
    sync["customerSites"][0]["meters"][0]["meterId"] = meter_id
    customers_since = await end_offsets(kafka, "powerbox.customers")
    binds_since = await end_offsets(kafka, "powerbox.bind.requests")
    headers = {"Authorization": f"Bearer {signer.token()}", "Content-Type": "application/json"}
    async with ingress_with_applier(environment, tmp_path, f"pb-{uuid.uuid4().hex[:8]}") as session:
        for _ in range(2):
            async with session.post(
                f"{base}/v1/powerbox/customer", data=orjson.dumps(sync), headers=headers
            ) as response:
                assert response.status == 200
                assert await response.json() == {
                    "clientId": client_id,
                    "hemProfileId": hem_profile_id(client_id),
                }

        async def customer_known() -> bool:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with session.get(f"{base}/v1/powerbox/meters/{meter_id}", headers=auth) as r:
                return r.status == 200

        await eventually(customer_known, 30, "the state applier to learn the customer")
        bind = {
            "hemProfileId": hem_profile_id(client_id),
            "macAddress": "00:1B:C5:00:00:AA:BB:CC",
            "installCode": "83FED3407A939723A5C639B26916D505C3B5",
            "meterId": meter_id,
            "actionCode": 1,
        }
        async with session.post(
            f"{base}/v1/powerbox/bind", data=orjson.dumps(bind), headers=headers
        ) as response:
            assert response.status == 200
            bind_id = (await response.json())["bindId"]

    customers = await read_records(
        kafka,
        "powerbox.customers",
        customers_since,
        until=lambda rs: any(r.key == client_id.encode() for r in rs),
    )
    mine = [r for r in customers if r.key == client_id.encode()]
    assert len(mine) == 1, "the same sync posted twice is published once"
    assert orjson.loads(mine[0].value) == sync
    binds = await read_records(
        kafka,
        "powerbox.bind.requests",
        binds_since,
        until=lambda rs: any(r.key == meter_id.encode() for r in rs),
    )
    (request,) = [r for r in binds if r.key == meter_id.encode()]
    event = decode(request.key, request.value, request.headers)
    assert event.id == bind_id
    assert orjson.loads(request.value) == bind
