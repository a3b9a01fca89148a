"""Installations end to end: ingress, state applier, bind forwarder, orchestrator and the AMI,
Light and WattShift emulators as real processes, against the real broker. Light's webhooks
come back through the ingress; its days last a fraction of a second."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson

from gridhook.contract.topics import INSTALLATION_EVENTS, INSTALLATIONS
from tests.support.bind_stack import ADMIN, NO_FAULTS, Stack, bind_stack
from tests.support.kafka import commit_at_end, end_offsets, read_between
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
        "GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS": "0.3",
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


async def test_an_installation_closes_the_loop_through_the_real_ingress(
    kafka: str, tmp_path: Path
) -> None:
    """Create, sync, bind: the plan is accepted once, Light's webhooks come back through the
    ingress, service starts, the home is onboarded with WattShift and shows its price."""
    starts = await end_offsets(kafka, INSTALLATION_EVENTS)
    async with installation_stack(kafka, tmp_path, {}) as world:
        account = await world.account()
        meter = f"m-{uuid.uuid4().hex[:6]}"
        installation = await world.create(
            account, "pending", meter, zipcode="78701", solar={"sizeKw": 7.6}
        )
        waiting = await world.reaches(installation, "waiting")
        assert waiting["meter"]["bindState"] == "unbound"
        client = await world.hardware_online(meter)
        assert client  # the installation names the meter; the CIS's clientId may differ
        done = await world.reaches(installation, "wattshift_onboarded")
        steps = [step["step"] for step in done["timeline"]]
        assert steps[:2] == ["admitted", "poa_recorded"]
        assert steps[-6:] == [
            "plans_requested",
            "plan_chosen",
            "plan_accepted",
            "enrollment_finalized",
            "service_active",
            "wattshift_onboarded",
        ]
        assert done["light"]["status"] == "service_active"
        home = done["wattshift"]["homeId"]
        assert home.startswith("ws_home_")
        account_view = await world.stack.read(f"/v1/accounts/{account}")
        assert account_view is not None
        assert account_view["status"] == "service_active"
        assert await world.accepts(account) == ["accepted"]

        async def priced() -> dict[str, Any] | None:
            view = await world.view(installation)
            return view if view and view["wattshift"]["currentPrice"] else None

        await eventually(priced, 30, "the home's price signal through the ingress")
        async with world.stack.session.get(f"{world.wattshift}/v1/emulator/homes/{home}") as r:
            assert (await r.json())["solar"]["sizeKw"] == 7.6
        ends = await end_offsets(kafka, INSTALLATION_EVENTS)
        events = await read_between(kafka, starts, ends)
        published = [
            orjson.loads(record.value or b"")["step"]
            for record in events
            if record.key == installation.encode()
        ]
        assert published == steps


async def test_orchestrators_killed_between_steps_accept_exactly_once(
    kafka: str, tmp_path: Path
) -> None:
    """SIGKILL while plans/request is answered, once the plan is chosen, and once Light has
    accepted but before its answer: one accept in Light's log, and the installation ends
    onboarded."""
    # Light answers every call 0.2 s late; its days last 3 s, so a priced plan outlives the
    # slow calls around it.
    slow = {
        "GRIDHOOK_LIGHT_EMULATOR_SLOW_SECONDS": "0.2",
        "GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS": "3",
    }
    async with installation_stack(kafka, tmp_path, slow) as world:
        account = await world.account()
        meter = f"m-{uuid.uuid4().hex[:6]}"
        await world.hardware_online(meter)
        installation = await world.create(account, "c", meter, zipcode="78701")

        async def called(call: str, outcome: str) -> bool:
            return any(
                (c["call"], c["outcome"]) == (call, outcome) for c in await world.calls(account)
            )

        await eventually(lambda: called("plans/request", "priced"), 60, "plans requested")
        world.stack.kill("orchestrator")
        await world.start_orchestrator()
        await world.step(installation, "plan_chosen")
        world.stack.kill("orchestrator")
        await world.start_orchestrator()
        await eventually(lambda: called("plans/accept", "accepted"), 60, "the accept")
        world.stack.kill("orchestrator")
        await world.start_orchestrator()
        done = await world.reaches(installation, "wattshift_onboarded")
        assert await world.accepts(account) == ["accepted"]
        assert world.orchestrators == 4
        assert [step["step"] for step in done["timeline"]].count("plan_accepted") == 1


async def test_faults_frozen_credit_and_stale_plans_still_end_onboarded(
    kafka: str, tmp_path: Path
) -> None:
    """Light and WattShift answering 503s and hanging past the timeout, the account's credit
    frozen for days, the first plans stale: the installation waits, re-requests, and ends
    onboarded with one accept."""
    faults = {
        "GRIDHOOK_LIGHT_EMULATOR_ERROR_RATE": "0.25",
        "GRIDHOOK_LIGHT_EMULATOR_TIMEOUT_RATE": "0.1",
        # Five stale pricings: a fault may lose an answer (work done, reply lost: about one in
        # five here), but not all five (about 0.03%), so stale plans reach the orchestrator.
        "GRIDHOOK_LIGHT_EMULATOR_STALE_PLANS": "5",
        "GRIDHOOK_WATTSHIFT_EMULATOR_ERROR_RATE": "0.25",
        "GRIDHOOK_WATTSHIFT_EMULATOR_TIMEOUT_RATE": "0.1",
        "GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS": "1",
    }
    async with installation_stack(kafka, tmp_path, faults) as world:
        account = await world.account(credit_frozen_days=8)
        meter = f"m-{uuid.uuid4().hex[:6]}"
        installation = await world.create(account, "c", meter, zipcode="78701")
        await world.step(installation, "waiting")
        await world.hardware_online(meter)
        done = await world.reaches(installation, "wattshift_onboarded", 120)
        timeline = done["timeline"]
        waits = [step["detail"]["for"] for step in timeline if step["step"] == "waiting"]
        assert any("account:credit_check_frozen" in waiting for waiting in waits)
        assert "plans_expired" in [step["step"] for step in timeline]
        assert await world.accepts(account) == ["accepted"]


async def test_the_start_date_is_moved_into_the_window(kafka: str, tmp_path: Path) -> None:
    """Desired 3 days away: service starts 7 days after the accept; 60 days away: 30 days
    after it (Light's days, a minute each here)."""
    async with installation_stack(
        kafka, tmp_path, {"GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS": "60"}
    ) as world:
        meter = f"m-{uuid.uuid4().hex[:6]}"
        await world.hardware_online(meter)
        today = await world.light_today()
        cases = []
        for days in (3, 60):
            account = await world.account()
            desired = (today + timedelta(days=days)).isoformat()
            installation = await world.create(account, "c", meter, desiredStartDate=desired)
            cases.append((account, installation, days))
        for account, installation, days in cases:
            accepted = await world.step(installation, "plan_accepted")
            start = date.fromisoformat(accepted["detail"]["serviceStartDate"])
            on = [c for c in await world.calls(account) if c["outcome"] == "accepted"]
            accept_day = date.fromisoformat(on[0]["lightDate"])
            assert (start - accept_day).days == (7 if days == 3 else 30)
