"""The PowerBox path as real processes for integration tests: the ingress, the state applier,
the bind forwarder and the AMI emulator against the real broker, started and stopped by the
test, with helpers to sync customers, bind meters and read the read API."""

from __future__ import annotations

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
from cryptography.hazmat.primitives import serialization

from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.install_codes import with_crc
from gridhook.contract.topics import POWERBOX_BIND_REQUESTS
from gridhook.state.transitions import APPLIED_TOPICS
from tests.support.kafka import commit_at_end
from tests.support.partner_payloads import customer_body
from tests.support.processes import free_port, gridhook_process, http_ok
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
        body = customer_body(client_id, meters, status=status, is_ami=is_ami)
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

    async def wait_for_bind(
        self, bind_id: str, status: str, deadline: float = 60
    ) -> dict[str, Any]:
        """The bind request once its recorded steps reach `status` (the steps follow the
        meter's state, which the forwarder records first, by the time the applier takes)."""

        async def reached() -> dict[str, Any] | None:
            bind = await self.read(f"/v1/powerbox/binds/{bind_id}")
            return bind if bind is not None and bind["status"] == status else None

        found: dict[str, Any] | None = await eventually(reached, deadline, f"{bind_id}: {status}")
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
        "GRIDHOOK_EMULATOR_READINGS_URL": f"http://127.0.0.1:{port}/v1/powerbox/readings",
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


def head_end_key(workdir: Path) -> Path:
    """The PEM of the key the tests' IdP signs with, for the head-end emulator to sign its
    meter-read batches (`GRIDHOOK_EMULATOR_TOKEN_KEY`)."""
    path = workdir / "head-end-key.pem"
    path.write_bytes(
        SIGNER.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
