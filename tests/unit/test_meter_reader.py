"""The head-end emulator's meter reads: registers that count the household profile, on the
calendar's cadence, with the faults of a mesh (late, repeated, silent), a 48-bit rollover and
a meter exchange; reads wait in an outbox until gridhook takes them."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Any

import pytest

from emulator.ami.reads import MeterReader
from emulator.ami.state import EmulatorState
from emulator.household import Household, energy_kwh
from gridhook.contract.settings import Calendar, MeterReads

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
METER, MAC = "m-1", "00:1B:C5:00:00:AA:BB:CC"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def settings(**rates: float) -> MeterReads:
    return MeterReads(
        every_minutes=15,
        url="http://127.0.0.1:9/v1/powerbox/readings",
        token_key=None,
        issuer="iss",
        audience="aud",
        solar_kw={METER: 6.0},
        late_rate=rates.get("late", 0.0),
        repeat_rate=rates.get("repeat", 0.0),
        gap_rate=rates.get("gap", 0.0),
    )


@pytest.fixture
async def state(tmp_path: Path) -> Any:
    clock = Clock()
    opened = EmulatorState(tmp_path / "ami.db", Calendar(86_400, T0), clock)
    await opened.open()
    await opened.db.execute(
        "INSERT INTO registers VALUES (?, ?, ?, 0, 0, 0, 0, 0)", (METER, MAC, T0)
    )
    await opened.db.commit()
    yield opened, clock
    await opened.close()


async def reads_of(state: EmulatorState) -> list[dict[str, Any]]:
    return [read for _, read in await state.due_reads(float("inf"), 10_000)]


async def test_a_day_of_reads_counts_the_household_profile(state: Any) -> None:
    """96 reads a day, each the registers' Wh: import and export as the profile says, to the Wh."""
    opened, clock = state
    clock.now = T0 + 86_400
    assert await MeterReader(opened, settings(), random.Random(1)).read_meters() == 96
    reads = await reads_of(opened)
    last = reads[-1]
    imported, exported = energy_kwh(Household(6.0), T0, T0 + 86_400)
    assert last["readAt"].startswith("2026-01-02T00:00:00")
    assert math.isclose(last["summationDelivered"], imported * 1000, abs_tol=1)
    assert math.isclose(last["summationReceived"], exported * 1000, abs_tol=1)
    assert exported > 1  # the meter is a solar home's


async def test_repeated_late_and_silent_reads(state: Any) -> None:
    """Every read sent twice and held back; then a silent HAN sends nothing for a while."""
    opened, clock = state
    clock.now = T0 + 3600
    faulty = MeterReader(opened, settings(late=1.0, repeat=1.0), random.Random(2))
    assert await faulty.read_meters() == 8
    assert await opened.due_reads(clock.now, 100) == []  # every one is held back
    reads = await reads_of(opened)
    assert len({read["readAt"] for read in reads}) == 4
    clock.now = T0 + 7200
    silent = MeterReader(opened, settings(gap=1.0), random.Random(3))
    assert await silent.read_meters() == 0


async def test_rollover_and_exchange(state: Any) -> None:
    """Registers set just short of 2^48 wrap to small numbers; an exchanged meter restarts."""
    opened, clock = state
    reader = MeterReader(opened, settings(), random.Random(4))
    assert await opened.set_register(METER, 2**48 - 1500, 0)
    clock.now = T0 + 3600
    await reader.read_meters()
    delivered = [read["summationDelivered"] for read in await reads_of(opened)]
    assert delivered[0] > 2**48 - 1500
    assert delivered[-1] < 10_000  # wrapped
    assert await opened.exchange(METER)
    clock.now = T0 + 3 * 3600
    await reader.read_meters()
    after = [read["summationDelivered"] for read in await reads_of(opened)][len(delivered) :]
    assert after[0] < 1000
    assert all(later >= earlier for earlier, later in itertools.pairwise(after))
    assert not await opened.exchange("no-such-meter")
