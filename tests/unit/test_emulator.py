"""The AMI/HAN gateway emulator: install codes, idempotency, outcomes, restarts."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from emulator.ami.app import create_app
from emulator.ami.latency import join_delay, realistic_join_seconds
from gridhook.contract.install_codes import crc16_x25, is_valid, with_crc
from gridhook.contract.settings import Settings
from tests.support.waiting import eventually

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
GOOD_CODE = "83FED3407A939723A5C639B26916D505C3B5"


def test_crc_matches_the_standard_check_value_and_the_zigbee_example() -> None:
    """CRC-16/X-25 of '123456789' is 0x906E; the Zigbee spec's example code ends in C3B5."""
    assert crc16_x25(b"123456789") == 0x906E
    assert with_crc(bytes.fromhex("83FED3407A939723A5C639B26916D505")) == GOOD_CODE


@pytest.mark.parametrize("length", [6, 8, 12, 16])
def test_every_supported_length_validates(length: int) -> None:
    assert is_valid(with_crc(bytes(range(length))))


@pytest.mark.parametrize(
    "code",
    [
        "83FED3407A939723A5C639B26916D505C3B6",  # CRC off by one
        "83FED3407A939723A5C639B26916D505",  # no CRC
        with_crc(bytes(range(10))),  # 10 bytes is not a Zigbee length
        "not hex at all",
    ],
)
def test_wrong_install_codes_are_refused(code: str) -> None:
    assert not is_valid(code)


def emulator_settings(tmp_path: Path, **overrides: str) -> Settings:
    environ = {
        "GRIDHOOK_EMULATOR_DB": str(tmp_path / "emulator.db"),
        "GRIDHOOK_EMULATOR_JOIN_SECONDS": "0-0.02",
        "GRIDHOOK_EMULATOR_UNREACHABLE_RATE": "0",
        "GRIDHOOK_EMULATOR_ERROR_RATE": "0",
        "GRIDHOOK_EMULATOR_TIMEOUT_RATE": "0",
        "GRIDHOOK_EMULATOR_MAX_DEVICES": "2",
    }
    return Settings.from_env(environ | overrides)


async def finished(client: TestClient[Any, Any], bind_id: str) -> dict[str, Any]:
    async def final_status() -> dict[str, Any] | None:
        status: dict[str, Any] = await (await client.get(f"/v1/requests/{bind_id}")).json()
        return status if status["status"] != "pending" else None

    found: dict[str, Any] | None = await eventually(final_status, 5, f"{bind_id} to finish")
    assert found is not None
    return found


def request(meter: str, mac: str, action: str = "bind", code: str = GOOD_CODE) -> dict[str, str]:
    return {"meterId": meter, "macAddress": mac, "installCode": code, "action": action}


async def test_bind_joins_once_however_often_it_is_submitted(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    """Submitting the same bind id again never joins the device a second time."""
    client = await aiohttp_client(create_app(emulator_settings(tmp_path).emulator))
    for _ in range(3):
        response = await client.put("/v1/requests/b1", json=request("m1", "00:11:22:33:44:55"))
        assert response.status == 202
    assert (await finished(client, "b1"))["status"] == "joined"
    await client.put("/v1/requests/b1", json=request("m1", "00:11:22:33:44:55"))
    devices = await (await client.get("/v1/meters/m1/devices")).json()
    assert [d["macAddress"] for d in devices["devices"]] == ["00:11:22:33:44:55"]
    assert devices["joinCounts"] == {"00:11:22:33:44:55": 1}


async def test_permanent_failures(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    """A wrong install code and a full HAN are permanent failures with a reason."""
    client = await aiohttp_client(create_app(emulator_settings(tmp_path).emulator))
    await client.put("/v1/requests/bad", json=request("m1", "AA:00", code="00" * 18))
    assert await finished(client, "bad") == await finished(client, "bad")
    status = await finished(client, "bad")
    assert (status["status"], status["reason"], status["transient"]) == (
        "failed",
        "invalid_install_code",
        False,
    )
    for n in range(3):
        await client.put(f"/v1/requests/j{n}", json=request("m1", f"00:00:00:00:00:0{n}"))
        await finished(client, f"j{n}")
    third = await finished(client, "j2")
    assert (third["status"], third["reason"]) == ("failed", "han_full")


async def test_unreachable_meter_is_transient_and_a_resubmission_tries_again(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    """An unreachable meter fails transiently; submitting the same bind id re-attempts it."""
    settings = emulator_settings(tmp_path, GRIDHOOK_EMULATOR_UNREACHABLE_RATE="1").emulator
    client = await aiohttp_client(create_app(settings))
    await client.put("/v1/requests/b1", json=request("m1", "00:11:22:33:44:55"))
    failed = await finished(client, "b1")
    assert (failed["status"], failed["reason"], failed["transient"]) == (
        "failed",
        "meter_unreachable",
        True,
    )
    again = await (await client.put("/v1/requests/b1", json=request("m1", "x"))).json()
    assert (again["status"], again["attempts"]) == ("pending", 2)


async def test_unbind_removes_the_device(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(emulator_settings(tmp_path).emulator))
    await client.put("/v1/requests/b1", json=request("m1", "00-11-22-33-44-55"))
    await finished(client, "b1")
    await client.put("/v1/requests/u1", json=request("m1", "001122334455", action="unbind"))
    assert (await finished(client, "u1"))["status"] == "left"
    devices = await (await client.get("/v1/meters/m1/devices")).json()
    assert devices["devices"] == []
    await client.put("/v1/requests/u2", json=request("m1", "001122334455", action="unbind"))
    assert (await finished(client, "u2"))["reason"] == "not_joined"


async def test_faults_are_503s_and_bad_requests_are_400(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    settings = emulator_settings(tmp_path, GRIDHOOK_EMULATOR_ERROR_RATE="1").emulator
    client = await aiohttp_client(create_app(settings, random.Random(1)))
    assert (await client.put("/v1/requests/b1", json=request("m1", "AA"))).status == 503
    healthy = await aiohttp_client(create_app(emulator_settings(tmp_path / "other").emulator))
    assert (await healthy.put("/v1/requests/b2", json={"meterId": "m"})).status == 400
    assert (await healthy.get("/v1/requests/unknown")).status == 404


async def test_state_and_pending_requests_survive_a_restart(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    """Joined devices persist, and a request pending at shutdown completes after restart."""
    settings = emulator_settings(tmp_path).emulator
    first = await aiohttp_client(create_app(settings))
    await first.put("/v1/requests/b1", json=request("m1", "00:11:22:33:44:55"))
    await finished(first, "b1")
    slow = emulator_settings(tmp_path, GRIDHOOK_EMULATOR_JOIN_SECONDS="30").emulator
    pending_app = await aiohttp_client(create_app(slow))
    await pending_app.put("/v1/requests/b2", json=request("m2", "00:11:22:33:44:66"))
    await pending_app.close()
    restarted = await aiohttp_client(create_app(settings))
    devices = await (await restarted.get("/v1/meters/m1/devices")).json()
    assert devices["joinCounts"] == {"00:11:22:33:44:55": 1}
    status = await (await restarted.get("/v1/requests/b2")).json()
    assert status["status"] == "pending"  # due in 30 s: resumed, not lost


def test_realistic_joins_mostly_take_minutes_with_a_tail_to_two_days() -> None:
    """Most joins finish within 15 minutes; some take hours; none more than 48 hours."""
    rng = random.Random(42)
    delays = sorted(realistic_join_seconds(rng) for _ in range(20_000))
    within_fifteen_minutes = sum(1 for delay in delays if delay <= 15 * 60) / len(delays)
    assert 0.8 < within_fifteen_minutes < 0.9
    assert delays[-1] <= 48 * 3600
    assert delays[int(len(delays) * 0.99)] > 6 * 3600


def test_the_time_scale_divides_every_join() -> None:
    rng = random.Random(1)
    assert join_delay(rng, (900.0, 900.0), 600) == 1.5
