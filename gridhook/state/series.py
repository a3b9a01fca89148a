"""A service's measurements and cost as a reader asks for them: one series from the two
sources, at a resolution, priced. Pure functions.

- **Which source.** Each 15-minute slot takes the best of what the HAN's intervals and
  Light's usage say: `actual` over `estimated` over `missing`; between two of one quality the
  HAN's, which has export too and is minutes old, where Light's is a day old and import only.
  So Light's usage fills the history before the device was bound and the HAN's gaps. A reader
  may also ask for one source only. Each slot says which source it gave.
- **Resolution.** `15m`, `1h` or `1d`, on UTC boundaries: a bucket's energy is the sum of its
  slots, its quality the worst of them, its source the one source of all its slots with data
  (`mixed` when they differ).
- **Cost.** Each slot priced (`gridhook.state.cost`), then summed like the energy; totals by
  UTC day and by UTC month.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from gridhook.state.cost import Agreement, PriceSpan, Pricing
from gridhook.state.intervals import INTERVAL_SECONDS, Interval, Quality

Resolution = Literal["15m", "1h", "1d"]
RESOLUTIONS: dict[str, int] = {"15m": INTERVAL_SECONDS, "1h": 3600, "1d": 86_400}
Choice = Literal["best", "han", "light"]
CHOICES = ("best", "han", "light")
MIXED = "mixed"
MOST_SLOTS = 200 * 96
"""The most 15-minute slots one read may span (200 days)."""

_RANK = {Quality.ACTUAL: 0, Quality.ESTIMATED: 1, Quality.MISSING: 2}


class Slot(NamedTuple):
    """One bucket of a series: energy in kWh (None where no source says anything), its
    quality, and the source it came from (None where none)."""

    start: int
    end: int
    imported: float | None
    exported: float | None
    quality: Quality
    source: str | None


class CostSlot(NamedTuple):
    """One bucket's cost: kWh imported, the Light plan's price and cost (None before any
    agreement), and WattShift's figure where its signal priced every slot of the bucket."""

    start: int
    end: int
    kwh: float | None
    price: float | None
    cost: float | None
    price_source: str | None
    wattshift_price: float | None
    wattshift_cost: float | None


def chosen(
    sources: Mapping[str, Mapping[int, Interval]], start: int, end: int, choice: Choice = "best"
) -> list[Slot]:
    """The 15-minute slots from `start` to `end` (both on 15-minute boundaries), each from the
    best source (`sources` in order of preference between equals) or from `choice` only."""
    offered = list(sources.items()) if choice == "best" else [(choice, sources.get(choice, {}))]
    slots = []
    for slot in range(start, end, INTERVAL_SECONDS):
        best: Interval | None = None
        best_name = None
        for name, intervals in offered:
            interval = intervals.get(slot)
            if interval is not None and (
                best is None or _RANK[interval.quality] < _RANK[best.quality]
            ):
                best, best_name = interval, name
        if best is None:
            slots.append(Slot(slot, slot + INTERVAL_SECONDS, None, None, Quality.MISSING, None))
        else:
            slots.append(
                Slot(
                    slot,
                    slot + INTERVAL_SECONDS,
                    best.imported,
                    best.exported,
                    best.quality,
                    best_name,
                )
            )
    return slots


def unsettled(actual: Collection[int], start: int, end: int) -> tuple[int, int] | None:
    """The shortest range holding every 15-minute slot from `start` to `end` whose start is
    not in `actual` (the slots a preferred source gave as actual); None when there is none.
    A less preferred source can change a `best` choice only there: an actual interval is never
    passed over (`chosen`)."""
    slots = range(start, end, INTERVAL_SECONDS)
    first = next((slot for slot in slots if slot not in actual), None)
    if first is None:
        return None
    last = next(slot for slot in reversed(slots) if slot not in actual)
    return first, last + INTERVAL_SECONDS


def bucket_of(at: int, resolution: Resolution) -> int:
    size = RESOLUTIONS[resolution]
    return at - at % size


def resampled(slots: Sequence[Slot], resolution: Resolution) -> list[Slot]:
    """`slots` (15-minute) summed into buckets of `resolution`."""
    if resolution == "15m":
        return list(slots)
    groups: dict[int, list[Slot]] = {}
    for slot in slots:
        groups.setdefault(bucket_of(slot.start, resolution), []).append(slot)
    size = RESOLUTIONS[resolution]
    result = []
    for start, members in groups.items():
        known = [slot for slot in members if slot.imported is not None]
        quality = max((slot.quality for slot in members), key=_RANK.__getitem__)
        if len(members) < size // INTERVAL_SECONDS:
            quality = Quality.MISSING  # the range cuts the bucket
        sources = {slot.source for slot in known}
        result.append(
            Slot(
                start,
                start + size,
                sum(slot.imported or 0.0 for slot in known) if known else None,
                sum(slot.exported or 0.0 for slot in known) if known else None,
                quality,
                None if not sources else sources.pop() if len(sources) == 1 else MIXED,
            )
        )
    return result


def costed(
    slots: Sequence[Slot], agreements: Sequence[Agreement], spans: Sequence[PriceSpan]
) -> list[CostSlot]:
    """The cost of each 15-minute slot (`summed` makes coarser buckets of them)."""
    pricing = Pricing(agreements, spans)
    return [
        CostSlot(
            slot.start,
            slot.end,
            slot.imported,
            *pricing.of(slot.start, slot.imported or 0.0, slot.exported or 0.0),
        )
        for slot in slots
    ]


def summed(rows: Sequence[CostSlot], resolution: Resolution) -> list[CostSlot]:
    """15-minute `rows` summed into buckets of `resolution`."""
    if resolution == "15m":
        return list(rows)
    groups: dict[int, list[CostSlot]] = {}
    for row in rows:
        groups.setdefault(bucket_of(row.start, resolution), []).append(row)
    size = RESOLUTIONS[resolution]
    return [_summed(start, start + size, members) for start, members in groups.items()]


def _summed(start: int, end: int, rows: Sequence[CostSlot]) -> CostSlot:
    known = [row.kwh for row in rows if row.kwh is not None]
    costs = [row.cost for row in rows if row.cost is not None]
    sources = {row.price_source for row in rows if row.price_source is not None}
    prices = {row.price for row in rows if row.price is not None}
    wattshift = [row.wattshift_cost for row in rows]
    whole = all(cost is not None for cost in wattshift)
    ws_prices = {row.wattshift_price for row in rows}
    return CostSlot(
        start,
        end,
        sum(known) if known else None,
        prices.pop() if len(prices) == 1 else None,
        sum(costs) if costs else None,
        sources.pop() if len(sources) == 1 else MIXED if sources else None,
        ws_prices.pop() if len(ws_prices) == 1 else None,
        sum(cost or 0.0 for cost in wattshift) if whole and wattshift else None,
    )


def totals(rows: Sequence[CostSlot], period: Literal["day", "month"]) -> list[dict[str, object]]:
    """The Light cost and kWh of `rows` by UTC day or month, in time order."""
    width = 10 if period == "day" else 7
    sums: dict[str, list[float]] = {}
    labels: dict[int, str] = {}
    for row in rows:
        day = row.start // 86_400
        label = labels.get(day)
        if label is None:
            label = labels[day] = _date_of(day)[:width]
        found = sums.get(label)
        if found is None:
            found = sums[label] = [0.0, 0.0]
        found[0] += row.kwh or 0.0
        found[1] += row.cost or 0.0
    return [
        {period: label, "kwh": round(kwh, 6), "cost": round(cost, 6)}
        for label, (kwh, cost) in sums.items()
    ]


def _date_of(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
