"""Measurements end to end on the real broker: an installation's device is bound, the head-end
emulator's reads (late and repeated ones among them) come through the ingress, Light's usage
is fetched, and the service's intervals and cost read back equal to what the household's load
profile predicts, from both sources."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from emulator.household import Household, energy_kwh
from gridhook.contract.codec import parse_time
from tests.support.installation_stack import (
    SOLAR_KW,
    Installations,
    installation_stack,
    measurement_environment,
    start_measurements,
)
from tests.support.waiting import eventually

HAN_TOLERANCE = 0.001
"""kWh: the registers count whole Wh, so an interval (a difference of two) is off by < 1 Wh."""
LIGHT_TOLERANCE = 0.0005
"""kWh: Light reports each interval rounded to the Wh."""


def day_range(day: date) -> str:
    return f"from={day.isoformat()}&to={(day + timedelta(days=1)).isoformat()}"


async def complete_day(
    world: Installations, location: str, day: date, source: str, kind: str = "measurements"
) -> dict[str, Any]:
    """The service's `kind` of `day` from `source`, once its 96 intervals are all actual and,
    for measurements, once they hold every read (a late one may arrive seconds after the
    others: the intervals it splits are actual before it comes, spread linearly)."""

    async def complete() -> dict[str, Any] | None:
        path = f"/v1/services/{location}/{kind}?{day_range(day)}&source={source}"
        found = await world.stack.read(path)
        if found is None or len(found["intervals"]) != 96:
            return None
        if kind == "cost":  # each interval priced by the plan and by WattShift's signal
            priced = all(i["kwh"] is not None and i["wattshift"] for i in found["intervals"])
            return found if priced else None
        actual = all(i["quality"] == "actual" and i["source"] == source for i in found["intervals"])
        return found if actual and as_predicted(found["intervals"], source) else None

    found: dict[str, Any] | None = await eventually(
        complete, 90, f"{source} {kind} of {day} as the load profile predicts"
    )
    assert found is not None
    return found


def as_predicted(intervals: list[dict[str, Any]], source: str) -> bool:
    """Each interval's energy is the profile's, to the source's rounding."""
    tolerance = HAN_TOLERANCE if source == "han" else LIGHT_TOLERANCE
    for interval in intervals:
        imported, exported = predicted(interval)
        if not math.isclose(interval["import"], imported, abs_tol=tolerance):
            return False
        if source == "han" and not math.isclose(interval["export"], exported, abs_tol=tolerance):
            return False
    return True


def predicted(interval: dict[str, Any]) -> tuple[float, float]:
    start = parse_time(interval["start"]).timestamp()
    return energy_kwh(Household(SOLAR_KW), start, start + 900)


def wattshift_prices(start: datetime) -> tuple[float, float]:
    """The WattShift emulator's import and export price for the hour of `start`."""
    price = 0.09 if start.hour < 6 else 0.21 if 15 <= start.hour < 20 else 0.13
    return price, round(price * 0.4, 4)


async def test_a_bound_device_s_reads_and_light_s_usage_become_the_predicted_intervals_and_cost(
    kafka: str, tmp_path: Path
) -> None:
    """One day after service started: the HAN's 96 intervals (import and export) and Light's
    (import) equal the load profile's, each to its rounding; the cost of each interval is the
    accepted plan's price times the net import (the home is net-metered), WattShift's figure
    its prices times import and export, and the day's total their sum."""
    meter = f"m-{uuid.uuid4().hex[:6]}"
    environment = measurement_environment(tmp_path, meter)
    async with installation_stack(kafka, tmp_path, {}, **environment) as world:
        await start_measurements(world)
        account = await world.account()
        installation = await world.create(
            account, "c", meter, zipcode="78701", solar={"sizeKw": SOLAR_KW}
        )
        await world.hardware_online(meter)
        done = await world.reaches(installation, "wattshift_onboarded")
        location = next(
            step["detail"]["locationUuid"]
            for step in done["timeline"]
            if step["step"] == "plan_accepted"
        )
        chosen = next(step["detail"] for step in done["timeline"] if step["step"] == "plan_chosen")
        day = await world.light_today() + timedelta(days=1)

        han = await complete_day(world, location, day, "han")
        assert sum(interval["export"] for interval in han["intervals"]) > 1.0  # midday solar
        await complete_day(world, location, day, "light")

        cost = await complete_day(world, location, day, "han", kind="cost")
        rate = round(chosen["price"] / 100, 9)  # dollars per kWh, as gridhook keeps it
        assert [agreement["pricePerKwh"] for agreement in cost["agreements"]] == [rate]
        for row, measured in zip(cost["intervals"], han["intervals"], strict=True):
            net = measured["import"] - measured["export"]
            assert math.isclose(row["cost"], net * rate, abs_tol=1e-6)
            assert row["priceSource"] == f"light:{chosen['planName']}"
            import_price, export_price = wattshift_prices(parse_time(row["start"]))
            ws = measured["import"] * import_price - measured["export"] * export_price
            assert math.isclose(row["wattshift"]["cost"], ws, abs_tol=1e-6)
        assert math.isclose(cost["total"], sum(r["cost"] for r in cost["intervals"]), abs_tol=1e-5)
        assert cost["totals"]["daily"] == [
            {"day": day.isoformat(), "kwh": round(sum(r["kwh"] for r in cost["intervals"]), 6),
             "cost": round(cost["total"], 6)}
        ]  # fmt: skip

        hourly = await world.stack.read(
            f"/v1/services/{location}/measurements?{day_range(day)}&resolution=1h&source=han"
        )
        assert hourly is not None
        assert len(hourly["intervals"]) == 24
        assert math.isclose(
            sum(i["import"] for i in hourly["intervals"]),
            sum(i["import"] for i in han["intervals"]),
            abs_tol=1e-5,
        )
        best = await world.stack.read(f"/v1/services/{location}/measurements?{day_range(day)}")
        assert best is not None
        assert {interval["source"] for interval in best["intervals"]} == {"han"}
