"""What an emulated home consumes and exports, minute by minute: a pure load profile, so that a
test can predict every interval the emulators report.

Every home follows one daily shape in its local time (Texas: UTC-6 all year, so the shape
does not move with daylight saving): a base load, a morning peak around 07:30 and an evening
peak around 19:00; a home with solar generates, between 06:00 and 18:00, `solar_kw` times
the sine of the sun's course. A minute's import is what consumption exceeds generation by,
its export the reverse; each is constant over the minute. The HAN emulator's meters and
Light's usage both follow it, so one home's two sources agree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

UTC_OFFSET_HOURS = -6.0
BASE_KW = 0.45
MORNING_KW, MORNING_AT, MORNING_WIDTH = 1.2, 7.5, 1.0
EVENING_KW, EVENING_AT, EVENING_WIDTH = 2.1, 19.0, 1.6


@dataclass(frozen=True)
class Household:
    """One home: its solar system's size (0: none)."""

    solar_kw: float = 0.0


def _bump(hour: float, peak: float, width: float) -> float:
    return math.exp(-(((hour - peak) / width) ** 2))


def consumption_kw(hour: float) -> float:
    """Average consumption (kW) at local `hour` (0 to 24)."""
    return (
        BASE_KW
        + MORNING_KW * _bump(hour, MORNING_AT, MORNING_WIDTH)
        + EVENING_KW * _bump(hour, EVENING_AT, EVENING_WIDTH)
    )


def generation_kw(household: Household, hour: float) -> float:
    """Solar generation (kW) at local `hour`."""
    if household.solar_kw <= 0 or not 6.0 <= hour <= 18.0:
        return 0.0
    return household.solar_kw * math.sin(math.pi * (hour - 6.0) / 12.0)


def minute_kwh(household: Household, minute: int) -> tuple[float, float]:
    """kWh imported and exported during Unix minute `minute` (from `minute * 60` seconds)."""
    local = (minute / 60.0 + UTC_OFFSET_HOURS) % 24.0 + 1 / 120  # the minute's middle
    net = consumption_kw(local) - generation_kw(household, local)
    return (max(net, 0.0) / 60.0, max(-net, 0.0) / 60.0)


@functools.cache
def _daily_kwh(household: Household) -> tuple[float, float]:
    """kWh imported and exported over one whole day (every day is the same)."""
    return _minutes_kwh(household, 0, 24 * 60)


def energy_kwh(household: Household, start: float, end: float) -> tuple[float, float]:
    """kWh imported and exported from Unix second `start` to `end` (whole minutes)."""
    first, last = int(start // 60), int(end // 60)
    days = (last - first) // (24 * 60)
    imported, exported = _minutes_kwh(household, first + days * 24 * 60, last)
    daily_in, daily_out = _daily_kwh(household)
    return imported + days * daily_in, exported + days * daily_out


def _minutes_kwh(household: Household, first: int, last: int) -> tuple[float, float]:
    imported = exported = 0.0
    for minute in range(first, last):
        minute_in, minute_out = minute_kwh(household, minute)
        imported += minute_in
        exported += minute_out
    return imported, exported


SLOT_SECONDS = 900
DAY_SECONDS = 86_400


def usage_of_day(household: Household, day_start: float) -> list[tuple[float, float]]:
    """Light's 15-minute usage of the UTC day starting at `day_start`: each interval's start
    and the kWh imported in it, rounded to the Wh, as Light reports it."""
    return [
        (start, round(energy_kwh(household, start, start + SLOT_SECONDS)[0], 3))
        for start in range(int(day_start), int(day_start) + DAY_SECONDS, SLOT_SECONDS)
    ]
