"""The installation stack for integration tests: the PowerBox stack (`bind_stack`) with the
Light and WattShift emulators and an orchestrator as real processes, and what tests ask of
them."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson

from gridhook.contract.topics import (
    INSTALLATIONS,
    LIGHT_EVENTS,
    LIGHT_USAGE,
    METER_READS,
    WATTSHIFT_PRICE_SIGNALS,
)
from tests.support.bind_stack import ADMIN, NO_FAULTS, Stack, bind_stack, head_end_key
from tests.support.kafka import commit_at_end
from tests.support.light_payloads import SECRET
from tests.support.processes import free_port, http_ok
from tests.support.waiting import eventually

APP_TOKEN = "light-app-token-for-tests"
APP = {"Authorization": f"Bearer {APP_TOKEN}", "Content-Type": "application/json"}
MAC = "00:1B:C5:00:00:AA:BB:01"


class Installations:
    """The installation processes on top of the PowerBox stack, and what tests ask of them."""

    def __init__(self, stack: Stack, light: str, wattshift: str) -> None:
        self.stack = stack
        self.light = light
        self.wattshift = wattshift
        self.orchestrators = 0

    async def start_orchestrator(self) -> None:
        self.orchestrators += 1
        group = self.stack.environment["INSTALLATIONS_GROUP"]
        await self.stack.start("orchestrator", ["consume", "installations", "--group", group])

    async def account(self, **body: Any) -> str:
        account = f"acct-{uuid.uuid4().hex[:8]}"
        url = f"{self.light}/v1/app/accounts"
        payload = orjson.dumps({"uuid": account, **body})
        async with self.stack.session.post(url, data=payload, headers=APP) as reply:
            assert reply.status == 201
        return account

    async def light_today(self) -> date:
        async with self.stack.session.get(f"{self.light}/healthz") as reply:
            return parsedate_to_datetime(reply.headers["Date"]).date()

    async def create(self, account: str, client: str, meter: str, **fields: Any) -> str:
        installation = f"inst-{uuid.uuid4().hex[:8]}"
        body = {
            "installationId": installation,
            "lightAccountUuid": account,
            "clientId": client,
            "meterId": meter,
            "deviceMac": MAC,
            "esiId": "55512345671234567",
            "desiredStartDate": "2026-12-20",
            "plan": {"cheapestForTermMonths": 12},
            **fields,
        }
        headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
        url = f"{self.stack.base}/v1/installations"
        async with self.stack.session.post(url, data=orjson.dumps(body), headers=headers) as r:
            assert r.status == 202
            assert (await r.json())["installationId"] == installation
        return installation

    async def view(self, installation: str) -> dict[str, Any] | None:
        return await self.stack.read(f"/v1/installations/{installation}")

    async def reaches(self, installation: str, status: str, deadline: float = 90) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            view = await self.view(installation)
            return view if view is not None and view["status"] == status else None

        found: dict[str, Any] | None = await eventually(
            reached, deadline, f"{installation}: {status}", interval=0.1
        )
        assert found is not None
        return found

    async def step(self, installation: str, step: str, deadline: float = 60) -> dict[str, Any]:
        """The installation's first `step` in its timeline, once it is there."""

        async def taken() -> dict[str, Any] | None:
            view = await self.view(installation)
            steps = [entry for entry in (view or {}).get("timeline", []) if entry["step"] == step]
            return steps[0] if steps else None

        found: dict[str, Any] | None = await eventually(
            taken, deadline, f"{installation}: {step}", interval=0.1
        )
        assert found is not None
        return found

    async def calls(self, account: str) -> list[dict[str, Any]]:
        url = f"{self.light}/v1/emulator/calls"
        async with self.stack.session.get(url, params={"account": account}) as reply:
            found: list[dict[str, Any]] = await reply.json()
            return found

    async def accepts(self, account: str) -> list[str]:
        return [c["outcome"] for c in await self.calls(account) if c["call"] == "plans/accept"]

    async def hardware_online(self, meter: str) -> str:
        """Sync a Texas customer listing `meter`, bind the device and wait until it is bound."""
        client = await self.stack.sync([meter])
        assert await self.stack.bind(client, meter, MAC) == 200
        await self.stack.wait_for_state(meter, "bound")
        return client


@contextlib.asynccontextmanager
async def installation_stack(
    kafka: str, workdir: Path, light_faults: dict[str, str], **overrides: str
) -> AsyncIterator[Installations]:
    light_port, wattshift_port = free_port(), free_port()
    suffix = uuid.uuid4().hex[:8]
    environment = {
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_LIGHT_APP_TOKEN": APP_TOKEN,
        "GRIDHOOK_LIGHT_API_URL": f"http://127.0.0.1:{light_port}",
        "GRIDHOOK_LIGHT_EMULATOR_PORT": str(light_port),
        "GRIDHOOK_LIGHT_EMULATOR_DB": str(workdir / "light.db"),
        "GRIDHOOK_EMULATOR_DAY_SECONDS": "0.3",
        # one calendar for the three emulators, as `make run` gives them: started a second
        # apart with their own epochs, at 0.3 s a day, they would be days apart
        "GRIDHOOK_EMULATOR_EPOCH": str(time.time()),
        "GRIDHOOK_WATTSHIFT_CLIENT_KEY": "wattshift-client-key",
        "GRIDHOOK_WATTSHIFT_API_KEYS": "wattshift-webhook-key",
        "GRIDHOOK_WATTSHIFT_API_URL": f"http://127.0.0.1:{wattshift_port}",
        "GRIDHOOK_WATTSHIFT_EMULATOR_PORT": str(wattshift_port),
        "GRIDHOOK_WATTSHIFT_EMULATOR_DB": str(workdir / "wattshift.db"),
        "GRIDHOOK_PARTNER_TIMEOUT": "1",
        "GRIDHOOK_PARTNER_BACKOFF_MAX": "0.5",
        "GRIDHOOK_INSTALLATION_CHECK_SECONDS": "0.2",
        "INSTALLATIONS_GROUP": f"installations-{suffix}",
        **NO_FAULTS,
        **light_faults,
        **overrides,
    }
    await commit_at_end(kafka, environment["INSTALLATIONS_GROUP"], [INSTALLATIONS])
    async with bind_stack(kafka, workdir, environment, forwarder=True) as stack:
        for partner in ("light", "wattshift"):
            name = partner.upper()
            stack.environment[f"GRIDHOOK_{name}_EMULATOR_WEBHOOK_URL"] = (
                f"{stack.base}/webhooks/{partner}"
            )
        light = f"http://127.0.0.1:{light_port}"
        wattshift = f"http://127.0.0.1:{wattshift_port}"
        await stack.start("light", ["emulator", "light"])
        await stack.start("wattshift", ["emulator", "wattshift"])
        await eventually(lambda: http_ok(f"{light}/healthz"), 30, "the Light emulator")
        await eventually(lambda: http_ok(f"{wattshift}/healthz"), 30, "the WattShift emulator")
        installations = Installations(stack, light, wattshift)
        await installations.start_orchestrator()
        yield installations


ESI_ID = "55512345671234567"
SOLAR_KW = 7.6


def measurement_environment(workdir: Path, meter: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "GRIDHOOK_EMULATOR_TOKEN_KEY": str(head_end_key(workdir)),
        "GRIDHOOK_EMULATOR_READ_MINUTES": "15",
        "GRIDHOOK_EMULATOR_SOLAR_HOMES": f"{meter}:{SOLAR_KW},{ESI_ID}:{SOLAR_KW}",
        "GRIDHOOK_EMULATOR_READ_LATE_RATE": "0.1",
        "GRIDHOOK_EMULATOR_READ_REPEAT_RATE": "0.1",
        "GRIDHOOK_USAGE_CHECK_SECONDS": "0.2",
        "MEASUREMENTS_GROUP": f"measurements-{suffix}",
        "USAGE_GROUP": f"usage-{suffix}",
    }


async def start_measurements(world: Installations) -> None:
    environment = world.stack.environment
    group, usage = environment["MEASUREMENTS_GROUP"], environment["USAGE_GROUP"]
    kafka = world.stack.kafka
    await commit_at_end(kafka, group, [METER_READS, LIGHT_USAGE, WATTSHIFT_PRICE_SIGNALS])
    await commit_at_end(kafka, usage, [LIGHT_EVENTS])
    await world.stack.start("measurements", ["consume", "measurements", "--group", group])
    await world.stack.start("usage", ["consume", "usage", "--group", usage])
