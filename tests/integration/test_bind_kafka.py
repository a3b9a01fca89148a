"""The PowerBox path end to end: ingress, state applier, bind forwarder and gateway emulator as
real processes, against the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gridhook.contract.codec import header
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.install_codes import with_crc
from gridhook.contract.topics import POWERBOX_BIND_REQUESTS
from gridhook.state.transitions import APPLIED_TOPICS
from tests.support.kafka import commit_at_end, end_offsets, read_records
from tests.support.processes import free_port, gridhook_process, http_ok, run_gridhook
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks
from tests.support.waiting import eventually

ADMIN = "admin-token-for-tests-0123456789"
SIGNER = ec_key()
GOOD_CODE = with_crc(bytes.fromhex("83FED3407A939723A5C639B26916D505"))
BAD_CRC = GOOD_CODE[:-1] + ("0" if GOOD_CODE[-1] != "0" else "1")

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
# Joins of 15 to 20 minutes, longer than the 600 s the forwarder once gave up after, run
# 3,000 times faster than real time.
SLOW_JOINS = {"GRIDHOOK_EMULATOR_JOIN_SECONDS": "900-1200", "GRIDHOOK_EMULATOR_TIME_SCALE": "3000"}


def site(client_id: str, meters: list[str], *, is_ami: bool = True) -> dict[str, Any]:
    return {
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
                "isAMI": is_ami,
                "rateCode": "R1",
                "billingCycleId": 1,
            }
            for n, meter in enumerate(meters)
        ],
    }


@dataclass
class Stack:
    """The processes of the PowerBox path, started and stopped by the test."""

    kafka: str
    base: str
    emulator: str
    environment: dict[str, str]
    session: aiohttp.ClientSession
    workdir: Path
    processes: contextlib.AsyncExitStack
    logs: int = 0
    started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SIGNER.token()}", "Content-Type": "application/json"}

    async def start(self, name: str, arguments: list[str], **overrides: str) -> Any:
        """Start `gridhook <arguments>` as process `name` (stopped when the stack ends)."""
        self.logs += 1
        environment = self.environment | overrides
        log = self.workdir / f"{name}-{self.logs}.log"
        process = await self.processes.enter_async_context(
            gridhook_process(arguments, environment, log)
        )
        self.started[name] = process
        return process

    async def start_emulator(self, **overrides: str) -> None:
        await self.start("emulator", ["emulator"], **overrides)
        await eventually(lambda: http_ok(f"{self.emulator}/healthz"), 30, "the emulator")

    async def start_applier(self) -> None:
        await self.start("state", ["consume", "state", "--group", self.environment["STATE_GROUP"]])

    async def start_forwarder(self) -> Any:
        return await self.start("bind", ["consume", "bind", "--group", self.environment["BIND"]])

    def kill(self, name: str) -> None:
        process = self.started[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    async def sync(
        self,
        meters: list[str],
        client_id: str | None = None,
        status: str = "A",
        *,
        is_ami: bool = True,
        wait: bool = True,
    ) -> str:
        """POST a customer sync; with `wait`, until the read API shows this version."""
        client_id = client_id or f"client-{uuid.uuid4().hex[:8]}"
        body = {
            "clientId": client_id,
            "AcctStatus": status,
            "customerSites": [site(client_id, meters, is_ami=is_ami)] if meters else [],
        }
        url = f"{self.base}/v1/powerbox/customer"
        async with self.session.post(url, data=orjson.dumps(body), headers=self.headers()) as r:
            assert r.status == 200

        async def shown() -> bool:
            customer = await self.customer(client_id)
            return (
                customer is not None
                and customer["acctStatus"] == status
                and {meter["meterId"] for meter in customer["meters"] if not meter["removed"]}
                == set(meters)
            )

        if wait:
            await eventually(shown, 60, f"customer {client_id} with status {status}")
        return client_id

    async def read(self, path: str) -> dict[str, Any] | None:
        url = f"{self.base}{path}"
        async with self.session.get(url, headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            found: dict[str, Any] | None = await r.json() if r.status == 200 else None
            return found

    async def customer(self, client_id: str) -> dict[str, Any] | None:
        return await self.read(f"/v1/powerbox/customers/{client_id}")

    async def meter(self, meter_id: str) -> dict[str, Any] | None:
        return await self.read(f"/v1/powerbox/meters/{meter_id}")

    async def submit(
        self, client_id: str, meter_id: str, mac: str, action: int = 1, code: str = GOOD_CODE
    ) -> tuple[int, str | None]:
        """POST a bind; its status and bind id."""
        body = {
            "hemProfileId": hem_profile_id(client_id),
            "macAddress": mac,
            "installCode": code,
            "meterId": meter_id,
            "actionCode": action,
        }
        url = f"{self.base}/v1/powerbox/bind"
        async with self.session.post(url, data=orjson.dumps(body), headers=self.headers()) as r:
            raw = await r.read()
            return r.status, orjson.loads(raw)["bindId"] if r.status == 200 else None

    async def bind(
        self, client_id: str, meter_id: str, mac: str, action: int = 1, code: str = GOOD_CODE
    ) -> int:
        status, _ = await self.submit(client_id, meter_id, mac, action, code)
        return status

    async def wait_for_state(
        self, meter_id: str, state: str, deadline: float = 60
    ) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            meter = await self.meter(meter_id)
            return meter if meter is not None and meter["bindState"] == state else None

        found: dict[str, Any] | None = await eventually(reached, deadline, f"{meter_id}: {state}")
        assert found is not None
        return found

    async def join_counts(self, meter_id: str) -> dict[str, int]:
        async with self.session.get(f"{self.emulator}/v1/meters/{meter_id}/devices") as r:
            counts: dict[str, int] = (await r.json())["joinCounts"]
            return counts


@contextlib.asynccontextmanager
async def bind_stack(
    kafka: str,
    workdir: Path,
    overrides: dict[str, str],
    *,
    applier: bool = True,
    forwarder: bool = False,
) -> AsyncIterator[Stack]:
    """Emulator and ingress always; the state applier unless told not to; the forwarder when
    asked (tests often start it later)."""
    jwks = workdir / "jwks.json"
    write_jwks(jwks, SIGNER)
    port, emulator_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:8]
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_LOG_FORMAT": "json",
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{workdir / 'state.db'}",
        "GRIDHOOK_ADMIN_TOKEN": ADMIN,
        "GRIDHOOK_POWERBOX_JWKS": str(jwks),
        "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
        "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
        "GRIDHOOK_READ_YOUR_WRITES_WAIT": "20",
        "GRIDHOOK_EMULATOR_PORT": str(emulator_port),
        "GRIDHOOK_EMULATOR_DB": str(workdir / "emulator.db"),
        "GRIDHOOK_EMULATOR_JOIN_SECONDS": "0.05-0.3",
        "GRIDHOOK_EMULATOR_HANG_SECONDS": "2",
        "GRIDHOOK_GATEWAY_URL": f"http://127.0.0.1:{emulator_port}",
        "GRIDHOOK_GATEWAY_TIMEOUT": "1",
        "GRIDHOOK_BIND_MAX_ATTEMPTS": "30",
        "GRIDHOOK_BIND_BACKOFF_MAX": "1",
        "GRIDHOOK_BIND_POLL_MAX": "0.3",
        "GRIDHOOK_CONSUMER_BATCH": "20",
        "STATE_GROUP": f"state-{suffix}",
        "BIND": f"bind-{suffix}",
        **overrides,
    }
    base = f"http://127.0.0.1:{port}"
    # A long-running deployment's groups have read everything: so have this test's.
    await commit_at_end(kafka, environment["STATE_GROUP"], APPLIED_TOPICS)
    await commit_at_end(kafka, environment["BIND"], [POWERBOX_BIND_REQUESTS])
    emulator = f"http://127.0.0.1:{emulator_port}"
    async with contextlib.AsyncExitStack() as processes, aiohttp.ClientSession() as session:
        stack = Stack(kafka, base, emulator, environment, session, workdir, processes)
        await stack.start_emulator()
        await stack.start("ingress", ["ingress"])
        if applier:
            await stack.start_applier()
        await eventually(lambda: http_ok(f"{base}/readyz"), 30, "the ingress")
        if forwarder:
            await stack.start_forwarder()
        yield stack


# -- customer versions ------------------------------------------------------------------


async def test_a_status_round_trip_ends_active_and_the_meter_binds(
    kafka: str, tmp_path: Path
) -> None:
    """A, then S, then A again (the first payload): the customer ends active, and a bind goes
    through; in the window where the same payload used to be a duplicate forever."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS, forwarder=True) as stack:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([meter], status="A")
        await stack.sync([meter], client, status="S")
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:01:01") == 403
        await stack.sync([meter], client, status="A")
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:01:01") == 200
        await stack.wait_for_state(meter, "bound")


async def test_a_meter_left_out_of_a_later_sync_is_removed(kafka: str, tmp_path: Path) -> None:
    """Absent from the newer sync: shown removed, with the sync that removed it; a bind is
    404; the other meter binds on."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS) as stack:
        kept, dropped = f"m-{uuid.uuid4().hex[:6]}", f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([kept, dropped])
        await stack.sync([kept], client)
        meter = await stack.meter(dropped)
        assert meter is not None
        assert (meter["removed"], meter["clientId"]) == (True, client)
        customer = await stack.customer(client)
        assert customer is not None
        assert meter["removedBy"] == customer["version"]
        assert await stack.bind(client, dropped, "00:1B:C5:00:00:00:02:01") == 404
        assert await stack.bind(client, kept, "00:1B:C5:00:00:00:02:02") == 200


async def test_a_bind_right_after_its_sync_is_accepted(kafka: str, tmp_path: Path) -> None:
    """The CIS syncs a customer and binds one of its meters at once, while the state applier
    has not applied the sync (it is not even running): the bind waits for it, and is
    accepted once the applier has caught up, instead of 404."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS, applier=False, forwarder=True) as stack:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([meter], wait=False)
        binding = asyncio.create_task(stack.submit(client, meter, "00:1B:C5:00:00:00:03:01"))
        await stack.start_applier()  # while the bind waits at the ingress
        status, bind_id = await binding
        assert status == 200
        await stack.wait_for_state(meter, "bound")
        bind = await stack.read(f"/v1/powerbox/binds/{bind_id}")
        assert bind is not None
        assert (bind["status"], bind["meterId"]) == ("bound", meter)
        assert [step["outcome"] for step in bind["steps"]] == ["pending", "bound"]


async def test_wrong_codes_non_ami_meters_and_wrong_devices_are_refused_up_front(
    kafka: str, tmp_path: Path
) -> None:
    """A wrong install code and a meter without AMI: 400 with no body, nothing published. An
    unbind naming another device than the one bound: 409, and the meter stays bound."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS | SLOW_JOINS, forwarder=True) as stack:
        meter, no_ami = f"m-{uuid.uuid4().hex[:6]}", f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([meter])
        other = await stack.sync([no_ami], is_ami=False)
        before = await end_offsets(kafka, POWERBOX_BIND_REQUESTS)
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:04:01", code=BAD_CRC) == 400
        assert await stack.bind(other, no_ami, "00:1B:C5:00:00:00:04:02") == 400
        assert await end_offsets(kafka, POWERBOX_BIND_REQUESTS) == before, "nothing published"
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:04:01") == 200
        bound = await stack.wait_for_state(meter, "bound")
        assert bound["deviceMac"] == "00:1B:C5:00:00:00:04:01"
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:04:09") == 409, "bound"
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:04:99", action=0) == 409
        assert (await stack.wait_for_state(meter, "bound"))["deviceMac"] == bound["deviceMac"]
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:04:01", action=0) == 200
        assert (await stack.wait_for_state(meter, "unbound"))["deviceMac"] is None
        assert await stack.join_counts(meter) == {"00:1B:C5:00:00:00:04:01": 1}


# -- long joins -------------------------------------------------------------------------


async def test_a_join_slower_than_ten_minutes_ends_bound(kafka: str, tmp_path: Path) -> None:
    """Joins of 15 to 20 minutes (time scaled): with the default 48-hour deadline each ends
    bound, where the forwarder once failed them after 600 s."""
    env = NO_FAULTS | SLOW_JOINS | {"GRIDHOOK_EMULATOR_TIME_SCALE": "1500"}
    async with bind_stack(kafka, tmp_path, env, forwarder=True) as stack:
        meters, macs = await bind_many(stack, 5)
        await all_bound(stack, meters, 60)
        for meter, mac in zip(meters, macs, strict=True):
            assert await stack.join_counts(meter) == {mac: 1}, meter


async def test_a_join_after_the_deadline_is_reconciled(kafka: str, tmp_path: Path) -> None:
    """The deadline passes with the join still pending: failed with deadline_passed, the
    request in the DLQ; the device joins later, and the meter becomes bound."""
    env = NO_FAULTS | {"GRIDHOOK_EMULATOR_JOIN_SECONDS": "4-4", "GRIDHOOK_BIND_DEADLINE": "1"}
    async with bind_stack(kafka, tmp_path, env, forwarder=True) as stack:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([meter])
        dlq = await end_offsets(kafka, POWERBOX_BIND_REQUESTS + ".dlq")
        status, bind_id = await stack.submit(client, meter, "00:1B:C5:00:00:00:05:01")
        assert status == 200
        failed = await stack.wait_for_state(meter, "bind_failed")
        assert failed["reason"] == "deadline_passed"
        bound = await stack.wait_for_state(meter, "bound", deadline=30)
        assert bound["deviceMac"] == "00:1B:C5:00:00:00:05:01"
        assert await stack.join_counts(meter) == {"00:1B:C5:00:00:00:05:01": 1}
        records = await read_records(
            kafka, POWERBOX_BIND_REQUESTS + ".dlq", dlq, until=lambda rs: len(rs) >= 1
        )
        assert [header(r.headers, "ce_id") for r in records] == [(bind_id or "").encode()]


async def test_sigkill_of_the_forwarder_while_joins_are_pending_loses_none(
    kafka: str, tmp_path: Path
) -> None:
    """Every request pending, each join seconds away: the forwarder is SIGKILLed and
    restarted; every meter ends bound, each device joined once."""
    env = FLAKY | {"GRIDHOOK_EMULATOR_JOIN_SECONDS": "2-4"}
    async with bind_stack(kafka, tmp_path, env) as stack:
        meters, macs = await bind_many(stack, 30)
        await stack.start_forwarder()

        async def all_pending() -> bool:
            states = await asyncio.gather(*(stack.meter(meter) for meter in meters))
            return all(state is not None and state["bindState"] != "unbound" for state in states)

        await eventually(all_pending, 60, "every request to be pending")
        stack.kill("bind")
        assert await count_bound(stack, meters) < len(meters), "killed before the end"
        await stack.start_forwarder()
        await all_bound(stack, meters, 180)
        for meter, mac in zip(meters, macs, strict=True):
            assert await stack.join_counts(meter) == {mac: 1}, meter


async def test_a_bind_re_driven_from_the_dlq_is_driven_again(kafka: str, tmp_path: Path) -> None:
    """The meter's radio is unreachable on every attempt: failed, dead-lettered. The radio is
    repaired; `gridhook replay powerbox.bind.requests --dlq` sends the request back, and the
    forwarder drives it again: bound."""
    env = {
        "GRIDHOOK_EMULATOR_UNREACHABLE_RATE": "1",
        "GRIDHOOK_EMULATOR_ERROR_RATE": "0",
        "GRIDHOOK_EMULATOR_TIMEOUT_RATE": "0",
        "GRIDHOOK_BIND_MAX_ATTEMPTS": "2",
    }
    async with bind_stack(kafka, tmp_path, env, forwarder=True) as stack:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([meter])
        status, bind_id = await stack.submit(client, meter, "00:1B:C5:00:00:00:06:01")
        assert status == 200
        failed = await stack.wait_for_state(meter, "bind_failed")
        assert failed["reason"] == "meter_unreachable"
        stack.kill("emulator")
        await stack.start_emulator(GRIDHOOK_EMULATOR_UNREACHABLE_RATE="0")
        replayed = await run_gridhook(
            ["replay", POWERBOX_BIND_REQUESTS, "--dlq", "--key", meter], stack.environment
        )
        assert replayed.returncode == 0, replayed.stderr
        await stack.wait_for_state(meter, "bound")
        bind = await stack.read(f"/v1/powerbox/binds/{bind_id}")
        assert bind is not None
        assert (bind["status"], bind["round"]) == ("bound", 2)


# -- many binds -------------------------------------------------------------------------


async def test_racing_binds_for_one_meter_forward_only_one(kafka: str, tmp_path: Path) -> None:
    """Two binds that both pass the ingress's fast check: the forwarder lets one through."""
    async with bind_stack(kafka, tmp_path, NO_FAULTS) as stack:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        client = await stack.sync([meter])
        # The forwarder is not running yet, so the store still says unbound for both.
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:00:0A") == 200
        assert await stack.bind(client, meter, "00:1B:C5:00:00:00:00:0B") == 200
        await stack.start_forwarder()
        bound = await stack.wait_for_state(meter, "bound")
        assert bound["deviceMac"] == "00:1B:C5:00:00:00:00:0A"
        assert bound["facts"]["last_rejection"]["value"]["reason"] == "rejected_conflict"
        assert await stack.join_counts(meter) == {"00:1B:C5:00:00:00:00:0A": 1}


async def bind_many(stack: Stack, count: int) -> tuple[list[str], list[str]]:
    meters = [f"m-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    macs = [f"00:1B:C5:00:{n // 256:02X}:{n % 256:02X}:AA:BB" for n in range(count)]
    client = await stack.sync(meters)
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
    async with bind_stack(kafka, tmp_path, FLAKY, forwarder=True) as stack:
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
        await stack.start_forwarder()

        async def some_bound() -> bool:
            return await count_bound(stack, meters) >= 10

        await eventually(some_bound, 120, "some meters to be bound")
        stack.kill("bind")
        assert await count_bound(stack, meters) < 100, "killed before the end"
        await stack.start_forwarder()
        await all_bound(stack, meters, 240)
        for meter, mac in zip(meters, macs, strict=True):
            assert await stack.join_counts(meter) == {mac: 1}, meter
