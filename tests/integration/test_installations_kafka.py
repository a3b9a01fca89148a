"""Installations end to end: ingress, state applier, bind forwarder, orchestrator and the AMI,
Light and WattShift emulators as real processes, against the real broker. Light's webhooks
come back through the ingress; its days last a fraction of a second."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from gridhook.contract.topics import INSTALLATION_EVENTS
from tests.support.installation_stack import installation_stack
from tests.support.kafka import end_offsets, read_between
from tests.support.waiting import eventually


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
            return view if view and view["wattshift"]["priceSignal"] else None

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
        "GRIDHOOK_EMULATOR_DAY_SECONDS": "3",
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
        "GRIDHOOK_EMULATOR_DAY_SECONDS": "1",
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
        kafka, tmp_path, {"GRIDHOOK_EMULATOR_DAY_SECONDS": "60"}
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
