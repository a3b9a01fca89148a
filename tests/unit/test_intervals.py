"""Register reads to 15-minute intervals: the pure core, under every fault a HAN mesh has."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gridhook.state.intervals import (
    INTERVAL_SECONDS,
    ROLLOVER,
    Ledger,
    Meter,
    Quality,
    Read,
    derive,
    merge,
    settle,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, an interval boundary
WH = 1000  # divisor: raw units are Wh


def read(minutes: float, delivered_wh: int, received_wh: int = 0, **scale: int) -> Read:
    return Read(T0 + minutes * 60, delivered_wh % ROLLOVER, received_wh % ROLLOVER, **scale)


def intervals(ledger: Ledger, digits: int = 12) -> dict[int, tuple[float, float, Quality]]:
    return {
        start: (round(i.imported, digits), round(i.exported, digits), i.quality)
        for start, part in sorted(ledger.items())
        for i in [settle(start, part)]
    }


def same(first: Ledger, second: Ledger) -> bool:
    """The same intervals: the same starts and qualities, energies equal but for float noise."""
    one, other = intervals(first), intervals(second)
    return one.keys() == other.keys() and all(
        one[start][2] == other[start][2]
        and all(
            math.isclose(a, b, abs_tol=1e-9)
            for a, b in zip(one[start][:2], other[start][:2], strict=False)
        )
        for start in one
    )


def incremental(reads: list[Read]) -> Ledger:
    meter, ledger = Meter(), Ledger()
    for one in reads:
        changes = meter.add(one)
        if changes is not None:
            merge(ledger, changes)
    return ledger


def at(minutes: int) -> int:
    return int(T0) + minutes * 60


# -- each fault --------------------------------------------------------------------------------


def test_energy_is_spread_across_boundaries_in_proportion_to_time() -> None:
    """600 Wh from 00:10 to 00:40: 5 of those 30 minutes lie in 00:00-00:15, 15 in 00:15-00:30,
    10 in 00:30-00:45."""
    found = intervals(digits=6, ledger=derive([read(10, 1000), read(40, 1600)]))
    assert found[at(0)][:2] == (0.1, 0.0)
    assert found[at(15)] == (0.3, 0.0, Quality.ACTUAL)
    assert found[at(30)][:2] == (0.2, 0.0)


def test_an_interval_covered_by_reads_on_both_sides_is_actual_and_the_edges_missing() -> None:
    """Reads every 5 minutes from 00:05 to 00:50: 00:15 and 00:30 are actual; 00:00 (before the
    first read) and 00:45 (still in progress) are missing."""
    found = intervals(digits=6, ledger=derive([read(m, 100 * m) for m in range(5, 55, 5)]))
    assert [found[at(m)][2] for m in (0, 15, 30, 45)] == [
        Quality.MISSING,
        Quality.ACTUAL,
        Quality.ACTUAL,
        Quality.MISSING,
    ]


def test_a_repeated_read_changes_nothing() -> None:
    reads = [read(0, 0), read(15, 500), read(30, 900)]
    assert same(derive(reads + reads[1:2]), derive(reads))
    meter = Meter()
    for one in reads:
        meter.add(one)
    assert meter.add(reads[1]) is None


def test_a_late_read_re_derives_the_intervals_it_touches() -> None:
    """A read arriving after the ones around it splits their span: the same intervals as if it
    had arrived in order."""
    in_order = [read(0, 0), read(10, 200), read(20, 1000), read(30, 1100)]
    late = [in_order[0], in_order[2], in_order[3], in_order[1]]
    assert same(incremental(late), derive(in_order))
    assert intervals(incremental(late), 6)[at(0)] == (0.6, 0.0, Quality.ACTUAL)


def test_a_gap_is_spread_linearly_and_marked_estimated() -> None:
    """Nothing from 01:00 to 04:00: its 3 kWh go 0.25 kWh to each of its twelve intervals."""
    found = intervals(
        digits=6, ledger=derive([read(45, 0), read(60, 250), read(240, 3250), read(255, 3500)])
    )
    gap = [found[at(m)] for m in range(60, 240, 15)]
    assert gap == [(0.25, 0.0, Quality.ESTIMATED)] * 12
    assert found[at(45)] == (0.25, 0.0, Quality.ACTUAL)


def test_a_48_bit_rollover_counts_the_advance_across_the_wrap() -> None:
    found = intervals(digits=6, ledger=derive([read(0, ROLLOVER - 400), read(15, ROLLOVER + 200)]))
    assert found[at(0)] == (0.6, 0.0, Quality.ACTUAL)


def test_a_meter_exchange_loses_the_span_and_never_goes_negative() -> None:
    """The register restarts near 0 at 00:20: the span across it (00:15-00:20) is missing, with
    no energy; the new register counts on from its first read (0.2 kWh in 00:20-00:30)."""
    reads = [read(0, 5_000_000), read(15, 5_000_300), read(20, 12), read(30, 212), read(45, 512)]
    found = intervals(digits=6, ledger=derive(reads))
    assert found[at(0)] == (0.3, 0.0, Quality.ACTUAL)
    assert found[at(15)] == (0.2, 0.0, Quality.MISSING)
    assert found[at(30)] == (0.3, 0.0, Quality.ACTUAL)
    assert all(imported >= 0 for imported, _, _ in found.values())


def test_a_changed_multiplier_is_a_discontinuity() -> None:
    found = intervals(
        digits=6, ledger=derive([read(0, 100), read(15, 200, multiplier=10, divisor=WH)])
    )
    assert found[at(0)] == (0.0, 0.0, Quality.MISSING)


def test_an_implausible_jump_is_missing_not_huge() -> None:
    """10 MWh in 15 minutes is no home's: the span is a discontinuity."""
    found = intervals(digits=6, ledger=derive([read(0, 0), read(15, 10_000_000)]))
    assert found[at(0)] == (0.0, 0.0, Quality.MISSING)


def test_export_is_counted_on_its_own_register() -> None:
    found = intervals(digits=6, ledger=derive([read(0, 1000, 500), read(15, 1100, 2500)]))
    assert found[at(0)] == (0.1, 2.0, Quality.ACTUAL)


def test_two_reads_at_one_time_keep_the_greater_whatever_came_first() -> None:
    first, second = read(15, 300), read(15, 310)
    base = [read(0, 0), read(30, 600)]
    assert same(incremental([*base, first, second]), incremental([*base, second, first]))
    assert intervals(derive([*base, first, second]), 6)[at(0)][0] == 0.31


# -- properties over any set of reads -------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A meter's true story: its reads, and the true kWh imported between consecutive ones
    (None across a meter exchange, where nobody can know)."""

    reads: list[Read]
    energies: list[float | None]


@st.composite
def histories(draw: st.DrawFn) -> History:
    count = draw(st.integers(min_value=2, max_value=40))
    register = draw(st.sampled_from([0, ROLLOVER - 5_000, 123_456, 9_000_000]))
    exchange = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=count - 1)))
    now = T0 + draw(st.integers(min_value=0, max_value=3600))
    reads = [Read(now, register, 0, 1, WH)]
    energies: list[float | None] = []
    for index in range(1, count):
        seconds = draw(st.sampled_from([1, 30, 60, 299, 900, 1800, 5400, 40_000]))
        watt_hours = draw(st.integers(min_value=0, max_value=int(seconds / 3.6)))  # < 1000 kW
        now += seconds
        if index == exchange and 1_000_000 <= register < ROLLOVER - 1_000_000:
            # A meter in service has counted a lot: its successor restarts far below it.
            register = draw(st.integers(min_value=0, max_value=50))
            energies.append(None)
        else:
            register = (register + watt_hours) % ROLLOVER
            energies.append(watt_hours / WH)
        reads.append(Read(now, register, 0, 1, WH))
    return History(reads, energies)


def true_advance(history: History, kept: list[Read]) -> float:
    """The kWh the registers truly advanced over the spans between consecutive kept reads
    that no exchange breaks."""
    position = {one.at: index for index, one in enumerate(history.reads)}
    total = 0.0
    ordered = sorted(set(kept))
    for earlier, later in itertools.pairwise(ordered):
        steps = history.energies[position[earlier.at] : position[later.at]]
        if all(step is not None for step in steps):
            total += sum(step for step in steps if step is not None)
    return total


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_order_and_any_repeats_give_the_energy_the_registers_advanced(
    history: History, rng: random.Random
) -> None:
    """Any subset of the reads, repeated and shuffled: read one by one or all at once, the same
    intervals; their energy adds up to the registers' true advance; none is negative."""
    kept = [one for one in history.reads if rng.random() < 0.8] or history.reads[:1]
    delivered = kept + rng.sample(kept, k=min(len(kept), 5))
    rng.shuffle(delivered)
    whole, step_by_step = derive(delivered), incremental(delivered)
    assert same(whole, step_by_step)
    settled = [settle(start, part) for start, part in whole.items()]
    assert all(i.imported >= 0 and i.exported >= 0 for i in settled)
    assert math.isclose(
        sum(i.imported for i in settled), true_advance(history, kept), rel_tol=1e-9, abs_tol=1e-6
    )
    assert all(start % INTERVAL_SECONDS == 0 for start in whole)
