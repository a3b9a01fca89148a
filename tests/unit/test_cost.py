"""Pricing intervals: the Light plan in force, and WattShift's prices as a second figure."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from gridhook.state.cost import Agreement, PriceSpan, in_force, priced, total
from gridhook.state.intervals import Interval, Quality

NOON = datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()
PLAN = Agreement("p1", "Light Solar Saver 12", date(2026, 2, 15), 12, 0.137)


def interval(at: float, imported: float, exported: float = 0.0) -> Interval:
    return Interval(int(at), imported, exported, Quality.ACTUAL)


def test_a_plan_is_in_force_from_its_start_for_its_term() -> None:
    assert PLAN.end == date(2027, 2, 15)
    assert in_force([PLAN], datetime(2026, 2, 14, 23, tzinfo=UTC).timestamp()) is None
    assert in_force([PLAN], NOON) == PLAN
    assert in_force([PLAN], datetime(2027, 2, 15, tzinfo=UTC).timestamp()) is None
    short = Agreement("p0", "Flex", date(2026, 1, 31), 1, 0.169)
    assert short.end == date(2026, 2, 28), "the end of a month shorter than the start's day"


def test_the_latest_agreement_started_wins_when_terms_overlap() -> None:
    renewal = Agreement("p2", "Light Simple 12", date(2026, 2, 25), 12, 0.142)
    assert in_force([PLAN, renewal], NOON) == renewal


def test_imports_are_priced_at_the_plan_rate_and_net_metering_credits_exports() -> None:
    (plain,) = priced([interval(NOON, 2.0, 0.5)], [PLAN], [])
    assert math.isclose(plain.cost or 0, 2.0 * 0.137)
    assert plain.price_source == "light:Light Solar Saver 12"
    net = Agreement("p1", PLAN.name, PLAN.start, 12, PLAN.rate, net_metered=True)
    (credited,) = priced([interval(NOON, 2.0, 0.5)], [net], [])
    assert math.isclose(credited.cost or 0, 1.5 * 0.137)


def test_an_interval_before_service_has_no_light_price() -> None:
    (early,) = priced([interval(datetime(2026, 1, 1, tzinfo=UTC).timestamp(), 1.0)], [PLAN], [])
    assert (early.price, early.cost, early.price_source) == (None, None, None)
    assert total([early]) == 0


def test_a_wattshift_signal_covering_the_interval_gives_a_second_figure() -> None:
    signal = [PriceSpan(NOON - 3600, NOON + 3600, imported=0.21, exported=0.08)]
    (row,) = priced([interval(NOON, 1.0, 0.5)], [PLAN], signal)
    assert row.wattshift_price == 0.21
    assert math.isclose(row.wattshift_cost or 0, 0.21 - 0.5 * 0.08)
    (outside,) = priced([interval(NOON + 7200, 1.0)], [PLAN], signal)
    assert outside.wattshift_price is None
