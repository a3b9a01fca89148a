"""A service's series as a reader gets it (pure): the best source per slot, resolutions on UTC
boundaries, cost by the agreement in force and WattShift's signal, and the agreement read from
an installation's timeline."""

from __future__ import annotations

import math
from datetime import date

from gridhook.state.cost import Agreement, PriceSpan
from gridhook.state.installations import InstallationView
from gridhook.state.intervals import Interval, Quality
from gridhook.state.series import MIXED, chosen, costed, resampled, totals, unsettled
from gridhook.state.services import agreements_of, service_of

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
Q = 900


def interval(
    slot: int, kwh: float, quality: Quality = Quality.ACTUAL, out: float = 0.0
) -> Interval:
    return Interval(T0 + slot * Q, kwh, out, quality)


def test_actual_beats_estimated_and_the_han_wins_a_tie() -> None:
    """Per slot: an actual over an estimated or missing one whatever its source; between two
    actual ones the HAN's; a slot no source has is missing with no energy."""
    han = {i.start: i for i in [interval(0, 1.0), interval(1, 1.0, Quality.ESTIMATED)]}
    light = {i.start: i for i in [interval(0, 2.0), interval(1, 2.0), interval(2, 2.0)]}
    slots = chosen({"han": han, "light": light}, T0, T0 + 4 * Q)
    assert [(s.imported, s.quality, s.source) for s in slots] == [
        (1.0, Quality.ACTUAL, "han"),
        (2.0, Quality.ACTUAL, "light"),
        (2.0, Quality.ACTUAL, "light"),
        (None, Quality.MISSING, None),
    ]
    only_han = chosen({"han": han, "light": light}, T0, T0 + 2 * Q, "han")
    assert [s.source for s in only_han] == ["han", "han"]


def test_an_hour_sums_its_slots_takes_the_worst_quality_and_names_a_mixed_source() -> None:
    """Four slots make an hour: energy summed, quality the worst, source `mixed` when two."""
    han = {i.start: i for i in [interval(0, 1.0), interval(1, 1.0, Quality.ESTIMATED)]}
    light = {i.start: i for i in [interval(2, 0.5), interval(3, 0.5)]}
    hour = resampled(chosen({"han": han, "light": light}, T0, T0 + 3600), "1h")
    assert len(hour) == 1
    assert (hour[0].imported, hour[0].quality, hour[0].source) == (3.0, Quality.ESTIMATED, MIXED)
    assert hour[0].end - hour[0].start == 3600


def test_cost_uses_the_plan_in_force_net_metering_and_the_wattshift_signal() -> None:
    """Before the agreement's start no Light cost; after, net import times its rate; the
    WattShift figure is import times its import price less export times its export price."""
    agreement = Agreement("p", "Basic 12", date(2026, 1, 1), 12, 0.12, net_metered=True)
    slots = chosen(
        {"han": {T0 - Q: interval(-1, 1.0), T0: interval(0, 2.0, out=0.5)}}, T0 - Q, T0 + Q
    )
    spans = [PriceSpan(T0, T0 + 3600, 0.2, 0.05)]
    before, after = costed(slots, [agreement], spans)
    assert (before.cost, before.price_source, before.wattshift_cost) == (None, None, None)
    assert math.isclose(after.cost or 0, (2.0 - 0.5) * 0.12)
    assert after.price_source == "light:Basic 12"
    assert math.isclose(after.wattshift_cost or 0, 2.0 * 0.2 - 0.5 * 0.05)
    assert totals([before, after], "day") == [
        {"day": "2025-12-31", "kwh": 1.0, "cost": 0.0},
        {"day": "2026-01-01", "kwh": 2.0, "cost": 0.18},
    ]


def step(status: str, **detail: object) -> dict[str, object]:
    return {"step": status, "status": status, "detail": detail}


def test_the_agreement_is_the_accepted_plan_at_its_chosen_price() -> None:
    """The plan accepted, with the price (cents) and term of the plan chosen; solar without
    `nonNetMetered` is net-metered; the service's location, meter and home come along."""
    view = InstallationView(
        document={"meterId": "m1", "solar": {"sizeKw": 5}},
        status="wattshift_onboarded",
        reason=None,
        home_id="ws_home_1",
        timeline=[
            step("plan_chosen", planUuid="a", planName="Old", price=9.9, termMonths=6),
            step("plan_chosen", planUuid="b", planName="Basic 12", price=12.5, termMonths=12),
            step(
                "plan_accepted",
                planUuid="b",
                planName="Basic 12",
                serviceStartDate="2026-12-20",
                locationUuid="loc-1",
            ),
        ],
        updated_at=None,
    )
    assert agreements_of(view) == (
        Agreement("b", "Basic 12", date(2026, 12, 20), 12, 0.125, net_metered=True),
    )
    service = service_of("inst-1", view)
    assert (service.location_uuid, service.meter_id, service.home_id) == (
        "loc-1",
        "m1",
        "ws_home_1",
    )
    assert Agreement("b", "x", date(2026, 1, 31), 1, 0.1).end == date(2026, 2, 28)


def test_unsettled_is_the_range_of_the_slots_not_actual() -> None:
    """The range from the first to the last slot a preferred source did not give as actual;
    none when every slot is actual."""
    slots = [T0 + n * 900 for n in range(8)]
    assert unsettled(set(slots), T0, T0 + 8 * 900) is None
    assert unsettled(set(slots) - {slots[2], slots[5]}, T0, T0 + 8 * 900) == (slots[2], slots[6])
    assert unsettled(set(), T0, T0 + 8 * 900) == (T0, T0 + 8 * 900)
    assert unsettled({slots[0]}, T0, T0 + 900) is None
