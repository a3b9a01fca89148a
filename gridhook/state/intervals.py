"""A meter's cumulative register reads turned into 15-minute interval energy: pure functions.

A HAN device reads the meter's Metering cluster: `CurrentSummationDelivered` (energy imported)
and `CurrentSummationReceived` (exported), unsigned 48-bit counters, in raw units whose kWh
are `raw x multiplier / divisor`. Two consecutive reads of a meter make a **span**; its
advance on each register is spread over the 15-minute intervals the span overlaps, in
proportion to the time it spends in each. So:

- reads may come in any order, late, or twice: a read at a time already known changes
  nothing, and the intervals depend only on the set of reads;
- a **gap** (a span longer than `ESTIMATE_AFTER`, an hour) is spread linearly all the same, and
  the intervals it covers are `estimated`;
- a **48-bit rollover** (a register that steps back, when counting on past 2^48 is a plausible
  advance for the time elapsed) counts the advance across the wrap;
- a **meter exchange** (a register that restarts, or a multiplier or divisor that changes) and
  any implausible jump (more than `MAX_KW` over the span) is a **discontinuity**: the span
  carries no energy, and the intervals it covers are `missing`;
- nothing is ever negative, and over any set of reads the intervals' energy adds up to the
  registers' advance over their continuous spans.

An interval is `actual` when continuous spans no longer than `ESTIMATE_AFTER` cover all of it,
`estimated` when continuous spans cover all of it and some is a gap, and `missing` otherwise
(a discontinuity, or time before the first read or after the last: the interval in progress is
missing until a read after its end completes it).

Every quantity here is a sum of the spans' contributions, so the state applier can update the
stored intervals additively: a new read between two known ones removes their span and adds the
two it splits it into (`Meter.add`).
"""

from __future__ import annotations

import bisect
import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

INTERVAL_SECONDS = 900
ROLLOVER = 2**48
ESTIMATE_AFTER = 3600.0
"""A span longer than this (seconds) is a gap: the intervals it covers are estimated."""
MAX_KW = 1000.0
"""No home imports or exports more than this on average over a span: more is a discontinuity."""


class Quality(enum.StrEnum):
    ACTUAL = "actual"
    ESTIMATED = "estimated"
    MISSING = "missing"


@dataclass(frozen=True, order=True)
class Read:
    """One read of a meter's registers: `at` in Unix seconds (UTC), the registers raw."""

    at: float
    delivered: int
    received: int
    multiplier: int = 1
    divisor: int = 1000

    def kwh(self, raw: int) -> float:
        return raw * self.multiplier / self.divisor


@dataclass
class Contribution:
    """What spans put into one interval: energy (kWh) and the seconds they cover, by kind."""

    imported: float = 0.0
    exported: float = 0.0
    actual: float = 0.0
    estimated: float = 0.0
    missing: float = 0.0

    def add(self, other: Contribution, sign: float = 1.0) -> None:
        self.imported += sign * other.imported
        self.exported += sign * other.exported
        self.actual += sign * other.actual
        self.estimated += sign * other.estimated
        self.missing += sign * other.missing


Ledger = dict[int, Contribution]
"""Contributions by interval start (Unix seconds, a multiple of `INTERVAL_SECONDS`)."""


def interval_start(at: float) -> int:
    """The start of the 15-minute interval holding `at`."""
    return int(at // INTERVAL_SECONDS) * INTERVAL_SECONDS


def advance(earlier: Read, later: Read) -> tuple[float, float] | None:
    """The kWh imported and exported from `earlier` to `later` (across a rollover); None when
    the span is a discontinuity (a meter exchange, a changed scale, an implausible jump)."""
    if (earlier.multiplier, earlier.divisor) != (later.multiplier, later.divisor):
        return None
    hours = (later.at - earlier.at) / 3600
    most = MAX_KW * hours
    energies = []
    for before, after in ((earlier.delivered, later.delivered), (earlier.received, later.received)):
        raw = (after - before) % ROLLOVER  # a step back is a rollover when it is plausible
        kwh = later.kwh(raw)
        if kwh > most:
            return None
        energies.append(kwh)
    return energies[0], energies[1]


def span(earlier: Read, later: Read) -> Ledger:
    """What the span from `earlier` to `later` puts into each interval it overlaps."""
    duration = later.at - earlier.at
    ledger: Ledger = {}
    if duration <= 0:
        return ledger
    energy = advance(earlier, later)
    kind = "missing" if energy is None else "estimated" if duration > ESTIMATE_AFTER else "actual"
    start = interval_start(earlier.at)
    while start < later.at:
        overlap = min(later.at, start + INTERVAL_SECONDS) - max(earlier.at, start)
        if overlap > 0:
            part = Contribution()
            setattr(part, kind, overlap)
            if energy is not None:
                part.imported = energy[0] * overlap / duration
                part.exported = energy[1] * overlap / duration
            ledger[start] = part
        start += INTERVAL_SECONDS
    return ledger


def merge(into: Ledger, ledger: Ledger, sign: float = 1.0) -> None:
    """Add (or, with `sign` -1, take away) `ledger`'s contributions to `into`."""
    for start, part in ledger.items():
        into.setdefault(start, Contribution()).add(part, sign)


def unique(reads: Iterable[Read]) -> list[Read]:
    """`reads` in time order, one per time: of two reads at one time, the greater one (so the
    outcome does not depend on which arrived first)."""
    by_time: dict[float, Read] = {}
    for read in reads:
        known = by_time.get(read.at)
        if known is None or read > known:
            by_time[read.at] = read
    return [by_time[at] for at in sorted(by_time)]


def derive(reads: Iterable[Read]) -> Ledger:
    """The intervals of a set of reads, all at once."""
    ordered = unique(reads)
    ledger: Ledger = {}
    for earlier, later in itertools.pairwise(ordered):
        merge(ledger, span(earlier, later))
    return ledger


class Interval(NamedTuple):
    """One 15-minute interval as a reader sees it (a named tuple: a month's read makes
    thousands)."""

    start: int
    imported: float
    exported: float
    quality: Quality


ROUNDING = 1e-9
"""kWh below this are noise of additive updates: shown as 0."""


def settle(start: int, part: Contribution) -> Interval:
    """The interval `part` describes, its quality from what covers it."""
    return settled(start, part.imported, part.exported, part.actual, part.estimated, part.missing)


def settled(
    start: int, imported: float, exported: float, actual: float, estimated: float, missing: float
) -> Interval:
    """`settle` for a contribution's figures as stored (one call per row read back)."""
    if missing > ROUNDING or actual + estimated < INTERVAL_SECONDS - 1e-6:
        quality = Quality.MISSING
    elif estimated > ROUNDING:
        quality = Quality.ESTIMATED
    else:
        quality = Quality.ACTUAL
    return Interval(
        start,
        imported if imported > ROUNDING else 0.0,
        exported if exported > ROUNDING else 0.0,
        quality,
    )


@dataclass
class Meter:
    """A meter's known reads, kept in order, and the contributions each new one changes."""

    reads: list[Read] = field(default_factory=list)

    def add(self, read: Read) -> Ledger | None:
        """Take in `read`; the change it makes to the intervals (None when a read at its time
        is known and not smaller: nothing changes)."""
        index = bisect.bisect_left(self.reads, read.at, key=lambda known: known.at)
        changes: Ledger = {}
        if index < len(self.reads) and self.reads[index].at == read.at:
            known = self.reads[index]
            if read <= known:
                return None
            # Two reads at one time: the greater wins, as `unique` decides.
            self._around(index, changes, sign=-1.0)
            self.reads[index] = read
            self._around(index, changes, sign=1.0)
            return changes
        earlier = self.reads[index - 1] if index > 0 else None
        later = self.reads[index] if index < len(self.reads) else None
        if earlier is not None and later is not None:
            merge(changes, span(earlier, later), -1.0)
        if earlier is not None:
            merge(changes, span(earlier, read))
        if later is not None:
            merge(changes, span(read, later))
        self.reads.insert(index, read)
        return changes

    def _around(self, index: int, changes: Ledger, sign: float) -> None:
        """The spans on both sides of the read at `index`."""
        if index > 0:
            merge(changes, span(self.reads[index - 1], self.reads[index]), sign)
        if index + 1 < len(self.reads):
            merge(changes, span(self.reads[index], self.reads[index + 1]), sign)
