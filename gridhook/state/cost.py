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


def priced(
    intervals: Iterable[Interval], agreements: Sequence[Agreement], spans: Sequence[PriceSpan]
) -> list[PricedInterval]:
    """Each interval with its cost (`spans` in order of start)."""
    result = []
    starts = [stretch.start for stretch in spans]
    day_of: dict[int, tuple[float | None, str | None, bool]] = {}
    for interval in intervals:
        day = interval.start // 86_400
        terms = day_of.get(day)
        if terms is None:
            agreement = in_force(agreements, interval.start)
            terms = day_of[day] = (
                (None, None, False)
                if agreement is None
                else (agreement.rate, f"light:{agreement.name}", agreement.net_metered)
            )
        price, source, net_metered = terms
        cost = None
        if price is not None:
            cost = (interval.imported - (interval.exported if net_metered else 0.0)) * price
        stretch = signal_at(spans, interval.start + INTERVAL_SECONDS / 2, starts) if spans else None
        ws_price = ws_cost = None
        if stretch is not None:
            ws_price = stretch.imported
            ws_cost = interval.imported * stretch.imported - interval.exported * stretch.exported
        result.append(PricedInterval(interval, price, cost, source, ws_price, ws_cost))
    return result


def total(rows: Iterable[PricedInterval]) -> float:
    """The Light cost of `rows`, the intervals no agreement priced left out."""
    return sum(row.cost for row in rows if row.cost is not None)
