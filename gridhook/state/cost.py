"""What a service's energy cost: each interval priced by what the customer pays. Pure functions.

- **The Light plan in force** (an `Agreement`: the plan gridhook accepted on the customer's
  behalf, from its service start date for its term) prices the energy imported, at its rate
  per kWh; a net-metered solar home is credited the same rate for what it exports. An interval
  no agreement covers (before service started) has no Light price.
- **A WattShift price signal** covering the interval gives a second figure: its import price
  for what was imported, less its export price for what was exported.

Money is in US dollars; rates are dollars per kWh (Light prices its plans in cents).
"""

from __future__ import annotations

import bisect
import calendar
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NamedTuple

from gridhook.state.intervals import INTERVAL_SECONDS, Interval

CURRENCY = "USD"


@dataclass(frozen=True)
class Agreement:
    """A Light plan in force at a service from `start` for `term_months`."""

    plan_uuid: str
    name: str
    start: date
    term_months: int
    rate: float
    """Dollars per kWh."""
    net_metered: bool = False

    @functools.cached_property
    def end(self) -> date:
        """The first day past the term."""
        months = self.start.month - 1 + self.term_months
        year, month = self.start.year + months // 12, months % 12 + 1
        day = min(self.start.day, calendar.monthrange(year, month)[1])
        return date(year, month, day)

    def covers(self, day: date) -> bool:
        return self.start <= day < self.end


@dataclass(frozen=True)
class PriceSpan:
    """A stretch of a WattShift price signal: dollars per kWh imported and exported."""

    start: float
    end: float
    imported: float
    exported: float


class PricedInterval(NamedTuple):
    """An interval with what it cost: by the Light plan (`price`, `cost`, `price_source`) and,
    where a signal covers it, by WattShift's prices."""

    interval: Interval
    price: float | None
    cost: float | None
    price_source: str | None
    wattshift_price: float | None
    wattshift_cost: float | None


def in_force(agreements: Sequence[Agreement], at: float) -> Agreement | None:
    """The agreement covering the day (UTC) of `at`; the latest started when several do."""
    day = datetime.fromtimestamp(at, UTC).date()
    covering = [agreement for agreement in agreements if agreement.covers(day)]
    return max(covering, key=lambda agreement: agreement.start, default=None)


def signal_at(
    spans: Sequence[PriceSpan], at: float, starts: Sequence[float] | None = None
) -> PriceSpan | None:
    """The span covering `at` among `spans` (in order of start; `starts` their starts, when
    the caller has them): the latest started."""
    index = bisect.bisect_right(starts if starts is not None else [s.start for s in spans], at)
    for stretch in reversed(spans[max(0, index - 4) : index]):
        if stretch.start <= at < stretch.end:
            return stretch
    return None


class Pricing:
    """What prices the intervals of one read: the agreement in force on each UTC day, and
    the WattShift span covering each interval (`spans` in order of start)."""

    def __init__(self, agreements: Sequence[Agreement], spans: Sequence[PriceSpan]) -> None:
        self._agreements = agreements
        self._spans = spans
        self._starts = [stretch.start for stretch in spans]
        self._days: dict[int, tuple[float | None, str | None, bool]] = {}

    def of(
        self, start: int, imported: float, exported: float
    ) -> tuple[float | None, float | None, str | None, float | None, float | None]:
        """The interval's Light price, cost and price source, and WattShift's price and cost
        (None where nothing prices it): `PricedInterval`'s figures, in its order."""
        day = start // 86_400
        terms = self._days.get(day)
        if terms is None:
            agreement = in_force(self._agreements, start)
            terms = self._days[day] = (
                (None, None, False)
                if agreement is None
                else (agreement.rate, f"light:{agreement.name}", agreement.net_metered)
            )
        price, source, net_metered = terms
        cost = None
        if price is not None:
            cost = (imported - (exported if net_metered else 0.0)) * price
        ws_price = ws_cost = None
        if self._spans:
            stretch = signal_at(self._spans, start + INTERVAL_SECONDS / 2, self._starts)
            if stretch is not None:
                ws_price = stretch.imported
                ws_cost = imported * stretch.imported - exported * stretch.exported
        return price, cost, source, ws_price, ws_cost


def priced(
    intervals: Iterable[Interval], agreements: Sequence[Agreement], spans: Sequence[PriceSpan]
) -> list[PricedInterval]:
    """Each interval with its cost (`spans` in order of start)."""
    pricing = Pricing(agreements, spans)
    return [
        PricedInterval(interval, *pricing.of(interval.start, interval.imported, interval.exported))
        for interval in intervals
    ]


def total(rows: Iterable[PricedInterval]) -> float:
    """The Light cost of `rows`, the intervals no agreement priced left out."""
    return sum(row.cost for row in rows if row.cost is not None)
