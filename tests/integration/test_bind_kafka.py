"""The PowerBox path end to end: ingress, state applier, bind forwarder and gateway emulator as
real processes, against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from gridhook.contract.codec import header
from gridhook.contract.topics import POWERBOX_BIND_REQUESTS
from tests.support.bind_stack import (
    BAD_CRC,
    FLAKY,
    NO_FAULTS,
    SLOW_JOINS,
    Stack,
    bind_stack,
)
from tests.support.kafka import end_offsets, read_records
from tests.support.processes import run_gridhook
from tests.support.waiting import eventually

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
        assert bind_id is not None
        bind = await stack.wait_for_bind(bind_id, "bound")
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
        assert bind_id is not None
        bind = await stack.wait_for_bind(bind_id, "bound")
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

        async def rejection() -> list[str]:
            found = await stack.meter(meter) or {}
            return [b["reason"] for b in found.get("binds", []) if b["status"] == "rejected"]

        assert await eventually(rejection, 30, "the second bind's rejection") == [
            "rejected_conflict"
        ]
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
