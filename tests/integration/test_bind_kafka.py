"""The bind path end to end: ingress, state applier, bind forwarder and gateway emulator as
real processes, against the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from emulator.install_codes import with_crc
from gridhook.contract.identifiers import hem_profile_id
from tests.support.processes import free_port, gridhook_process, http_ok
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks
from tests.support.waiting import eventually

ADMIN = "admin-token-for-tests-0123456789"
SIGNER = ec_key()
GOOD_CODE = with_crc(bytes.fromhex("83FED3407A939723A5C639B26916D505"))


@dataclass
class Stack:
    base: str
    emulator: str
    environment: dict[str, str]
    session: aiohttp.ClientSession
    workdir: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SIGNER.token()}", "Content-Type": "application/json"}

    async def sync_customer(self, meters: list[str]) -> str:
        client_id = f"client-{uuid.uuid4().hex[:8]}"
        body = {
            "clientId": client_id,
            "AcctStatus": "A",
            "customerSites": [
                {
                    "externalSiteId": f"site-{client_id}",
                    "isPrimary": True,
                    "address1": "1 Main St",
                    "city": "Detroit",
                    "state": "MI",
                    "postalCode": "48067",
                    "meters": [
                        {
                            "meterId": meter,
                            "meterType": "Electric",
                            "isPrimary": n == 0,
                            "isAMI": True,
                            "rateCode": "R1",
                            "billingCycleId": 1,
                        }
                        for n, meter in enumerate(meters)
                    ],
                }
            ],
        }
        url = f"{self.base}/v1/powerbox/customer"
        async with self.session.post(url, data=orjson.dumps(body), headers=self.headers()) as r:
            assert r.status == 200
        await eventually(lambda: self.meter_known(meters[-1]), 30, "the customer in the store")
        return client_id

    async def meter(self, meter_id: str) -> dict[str, Any] | None:
        url = f"{self.base}/v1/powerbox/meters/{meter_id}"
        async with self.session.get(url, headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            return await r.json() if r.status == 200 else None

    async def meter_known(self, meter_id: str) -> bool:
        return await self.meter(meter_id) is not None

    async def bind(
        self, client_id: str, meter_id: str, mac: str, action: int = 1, code: str = GOOD_CODE
    ) -> int:
        body = {
            "hemProfileId": hem_profile_id(client_id),
            "macAddress": mac,
            "installCode": code,
            "meterId": meter_id,
            "actionCode": action,
        }
        url = f"{self.base}/v1/powerbox/bind"
        async with self.session.post(url, data=orjson.dumps(body), headers=self.headers()) as r:
            return r.status

    async def wait_for_state(
        self, meter_id: str, state: str, deadline: float = 60
    ) -> dict[str, Any]:
        async def reached() -> bool:
            meter = await self.meter(meter_id)
            return meter is not None and meter["bindState"] == state

        await eventually(reached, deadline, f"meter {meter_id} to be {state}")
        meter = await self.meter(meter_id)
        assert meter is not None
        return meter

    async def join_counts(self, meter_id: str) -> dict[str, int]:
        async with self.session.get(f"{self.emulator}/v1/meters/{meter_id}/devices") as r:
            counts: dict[str, int] = (await r.json())["joinCounts"]
            return counts


@contextlib.asynccontextmanager
async def bind_stack(
    kafka: str, workdir: Path, emulator_faults: dict[str, str]
) -> AsyncIterator[Stack]:
    jwks = workdir / "jwks.json"
    write_jwks(jwks, SIGNER)
    port, emulator_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:8]
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{workdir / 'state.db'}",
        "GRIDHOOK_ADMIN_TOKEN": ADMIN,
        "GRIDHOOK_POWERBOX_JWKS": str(jwks),
        "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
        "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
        "GRIDHOOK_EMULATOR_PORT": str(emulator_port),
        "GRIDHOOK_EMULATOR_DB": str(workdir / "emulator.db"),
        "GRIDHOOK_EMULATOR_JOIN_SECONDS": "0.05-0.3",
        "GRIDHOOK_EMULATOR_HANG_SECONDS": "2",
        "GRIDHOOK_GATEWAY_URL": f"http://127.0.0.1:{emulator_port}",
        "GRIDHOOK_GATEWAY_TIMEOUT": "1",
        "GRIDHOOK_BIND_MAX_ATTEMPTS": "30",
        "GRIDHOOK_BIND_BACKOFF_MAX": "1",
        "GRIDHOOK_BIND_MAX_SECONDS": "120",
        "GRIDHOOK_CONSUMER_BATCH": "20",
        **emulator_faults,
    }
    base = f"http://127.0.0.1:{port}"
    async with (
        gridhook_process(["emulator"], environment, workdir / "emulator.log"),
        gridhook_process(["ingress"], environment, workdir / "ingress.log"),
        gridhook_process(
            ["consume", "state", "--group", f"state-{suffix}"], environment, workdir / "state.log"
        ),
        aiohttp.ClientSession() as session,
    ):
        await eventually(lambda: http_ok(f"{base}/readyz"), 30, "the ingress")
        await eventually(
            lambda: http_ok(f"http://127.0.0.1:{emulator_port}/healthz"), 30, "emulator"
        )
        environment["BIND_GROUP"] = f"bind-{suffix}"
        yield Stack(base, f"http://127.0.0.1:{emulator_port}", environment, session, workdir)


def forwarder(stack: Stack, log_name: str) -> contextlib.AbstractAsyncContextManager[Any]:
    environment = {k: v for k, v in stack.environment.items() if k != "BIND_GROUP"}
    return gridhook_process(
        ["consume", "bind", "--group", stack.environment["BIND_GROUP"]],
        environment,
        stack.workdir / log_name,
    )


NO_FAULTS = {
    "GRIDHOOK_EMULATOR_UNREACHABLE_RATE": "0",
    "GRIDHOOK_EMULATOR_ERROR_RATE": "0",
    "GRIDHOOK_EMULATOR_TIMEOUT_RATE": "0",
}
FLAKY = {
    "GRIDHOOK_EMULATOR_UNREACHABLE_RATE": "0.3",
    "GRIDHOOK_EMULATOR_ERROR_RATE": "0.1",
    "GRIDHOOK_EMULATOR_TIMEOUT_RATE": "0.02",
}


async def test_bind_wrong_code_and_unbind(kafka: str, tmp_path: Path) -> None:
    """A bind ends bound with its device; a wrong install code ends bind_failed with the
    reason; an unbind after a bind ends unbound."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS) as stack, forwarder(stack, "bind.log"):
        good, bad = f"m-{uuid.uuid4().hex[:6]}", f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync_customer([good, bad])
        assert await stack.bind(client, good, "00:1B:C5:00:00:00:00:01") == 200
        assert await stack.bind(client, bad, "00:1B:C5:00:00:00:00:02", code="00" * 18) == 200
        bound = await stack.wait_for_state(good, "bound")
        assert bound["deviceMac"] == "00:1B:C5:00:00:00:00:01"
        failed = await stack.wait_for_state(bad, "bind_failed")
        assert failed["reason"] == "invalid_install_code"
        assert await stack.bind(client, good, "00:1B:C5:00:00:00:00:09") == 409
        assert await stack.bind(client, good, "00:1B:C5:00:00:00:00:01", action=0) == 200
        unbound = await stack.wait_for_state(good, "unbound")
        assert unbound["deviceMac"] is None
        assert await stack.join_counts(good) == {"00:1B:C5:00:00:00:00:01": 1}


async def test_racing_binds_for_one_meter_forward_only_one(kafka: str, tmp_path: Path) -> None:
    """Two binds that both pass the ingress's fast check: the forwarder lets one through."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS) as stack:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync_customer([meter])
        # The forwarder is not running yet, so the store still says unbound for both.
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:00:0A") == 200
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:00:0B") == 200
        async with forwarder(stack, "bind.log"):
            bound = await stack.wait_for_state(meter, "bound")
        assert bound["deviceMac"] == "00:1B:C5:00:00:00:00:0A"
        assert bound["facts"]["last_rejection"]["value"]["reason"] == "rejected_conflict"
        assert await stack.join_counts(meter) == {"00:1B:C5:00:00:00:00:0A": 1}


async def bind_many(stack: Stack, count: int) -> tuple[list[str], list[str]]:
    meters = [f"m-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    macs = [f"00:1B:C5:00:{n // 256:02X}:{n % 256:02X}:AA:BB" for n in range(count)]
    client = await stack.sync_customer(meters)
    statuses = await asyncio.gather(
        *(stack.bind(client, meter, mac) for meter, mac in zip(meters, macs, strict=True))
    )
    assert set(statuses) == {200}
    return meters, macs


async def all_bound(stack: Stack, meters: list[str], deadline: float) -> None:
    async def done() -> bool:
        states = await asyncio.gather(*(stack.meter(meter) for meter in meters))
        return all(state is not None and state["bindState"] == "bound" for state in states)

    await eventually(done, deadline, "every meter to be bound")


async def count_bound(stack: Stack, meters: list[str]) -> int:
    states = await asyncio.gather(*(stack.meter(meter) for meter in meters))
    return sum(1 for state in states if state is not None and state["bindState"] == "bound")


async def test_hundred_binds_through_a_flaky_gateway_each_join_once(
    kafka: str, tmp_path: Path
) -> None:
    """30% of joins fail transiently (plus 503s and hangs): all 100 meters end bound, and the
    emulator joined each device exactly once."""
    async with bind_stack(kafka, tmp_path, FLAKY) as stack, forwarder(stack, "bind.log"):
        meters, macs = await bind_many(stack, 100)
        await all_bound(stack, meters, 240)
        for meter, mac in zip(meters, macs, strict=True):
            assert await stack.join_counts(meter) == {mac: 1}, meter


async def test_sigkill_of_the_forwarder_mid_run_still_joins_each_device_once(
    kafka: str, tmp_path: Path
) -> None:
    """The forwarder is SIGKILLed while binds are in flight and restarted: every meter ends
    bound and no device was joined twice."""
    async with bind_stack(kafka, tmp_path, FLAKY) as stack:
        meters, macs = await bind_many(stack, 100)
        async with forwarder(stack, "bind-1.log") as first:

            async def some_bound() -> bool:
                return await count_bound(stack, meters) >= 10

            await eventually(some_bound, 120, "some meters to be bound")
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert await count_bound(stack, meters) < 100, "killed before the end"
        async with forwarder(stack, "bind-2.log"):
            await all_bound(stack, meters, 240)
        for meter, mac in zip(meters, macs, strict=True):
            assert await stack.join_counts(meter) == {mac: 1}, meter
