"""The measurements store: meter reads, the 15-minute intervals derived from them and from
Light's usage, and WattShift's prices, in the database every stateful part shares.

Tables (`gridhook.state.tables`): `meter_reads` (each read once, by meter and time),
`measurement_intervals` (by source, series and start: the HAN's intervals of a meter, each the
sum of what the spans between its reads put into it, `gridhook.state.intervals`; Light's
usage of a location, as Light gave it), `price_spans` (WattShift's prices by home).

`Measurements.apply` writes one batch in one transaction, with one statement per table:

- a read already stored changes nothing, so a batch applied again after a crash, or
  re-driven, counts no energy twice; the reads' primary key is the guard, and when two
  writers race on one meter (a partition that moved while its old owner still wrote) the
  loser's transaction fails and is retried on what the winner stored;
- the interval changes are additive (`Meter.add`), so a late read updates only the
  intervals its span touches;
- Light's usage and WattShift's prices replace what was stored for their times.

`ReadTails` keeps, per meter, the latest stored reads in memory, so that the common case, a
read after the meter's last one, needs no query: only a meter seen for the first time, or a
read older than what is kept, is loaded. It is this process's view of what it committed:
the consumer drops it whenever its partitions change.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gridhook.state.cost import PriceSpan
from gridhook.state.database import Database
from gridhook.state.intervals import (
    INTERVAL_SECONDS,
    Contribution,
    Interval,
    Ledger,
    Meter,
    Quality,
    Read,
    settled,
)
from gridhook.state.series import Choice, unsettled
from gridhook.state.tables import measurement_intervals, meter_reads, price_spans

INTERVALS_QUERY = """SELECT start, imported, exported, actual, estimated, missing
    FROM measurement_intervals WHERE source = ? AND series = ? AND start >= ? AND start < ?"""
"""A series' intervals in a range: a range of the primary key."""
_INSERT_READS = """INSERT INTO meter_reads
    (meter_id, read_at, delivered, received, multiplier, divisor) VALUES (?, ?, ?, ?, ?, ?)"""
_ADD_INTERVALS = """INSERT INTO measurement_intervals
    (source, series, start, imported, exported, actual, estimated, missing)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (source, series, start) DO UPDATE SET
    imported = measurement_intervals.imported + excluded.imported,
    exported = measurement_intervals.exported + excluded.exported,
    actual = measurement_intervals.actual + excluded.actual,
    estimated = measurement_intervals.estimated + excluded.estimated,
    missing = measurement_intervals.missing + excluded.missing"""

HAN, LIGHT = "han", "light"
"""The intervals' sources: the HAN device's reads of the meter, and Light's usage."""

KEEP_SECONDS = 2 * 86_400.0
"""How much of a meter's latest reads `ReadTails` keeps (seconds of the meter's clock)."""
MOST_METERS = 200_000
"""Most meters `ReadTails` keeps; the least recently used go first."""


@dataclass
class Tail:
    """A meter's latest stored reads: every stored read from `meter.reads[0]` on; `whole` when
    no stored read is older."""

    meter: Meter
    whole: bool

    def covers(self, at: float) -> bool:
        """Whether adding a read at `at` needs no read this tail does not hold."""
        return self.whole or (bool(self.meter.reads) and at > self.meter.reads[0].at)

    def trim(self) -> None:
        """Forget the reads older than `KEEP_SECONDS` before the latest (but the one before)."""
        reads = self.meter.reads
        if not reads:
            return
        cutoff = reads[-1].at - KEEP_SECONDS
        first = next(index for index, read in enumerate(reads) if read.at >= cutoff)
        if first > 1:
            del reads[: first - 1]
            self.whole = False


class ReadTails:
    """The latest stored reads of the meters this process writes, least recently used first."""

    def __init__(self, most: int = MOST_METERS) -> None:
        self._tails: collections.OrderedDict[str, Tail] = collections.OrderedDict()
        self._most = most

    def get(self, meter_id: str) -> Tail | None:
        tail = self._tails.get(meter_id)
        if tail is not None:
            self._tails.move_to_end(meter_id)
        return tail

    def put(self, meter_id: str, tail: Tail) -> None:
        self._tails[meter_id] = tail
        self._tails.move_to_end(meter_id)
        while len(self._tails) > self._most:
            self._tails.popitem(last=False)

    def drop(self, meter_ids: Iterable[str]) -> None:
        for meter_id in meter_ids:
            self._tails.pop(meter_id, None)

    def clear(self) -> None:
        self._tails.clear()


@dataclass
class Batch:
    """One consumer batch, ready to apply: reads by meter, Light's usage by location (kWh by
    interval start), WattShift's prices by home."""

    reads: dict[str, list[Read]] = field(default_factory=dict)
    usage: dict[str, dict[int, float]] = field(default_factory=dict)
    prices: dict[str, list[PriceSpan]] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    """What applying a batch did: reads new and already known, how far behind its meter's
    latest read each new read came (seconds), and interval rows written."""

    new_reads: int
    known_reads: int
    lateness: list[float]
    intervals: int


class Measurements:
    """Reads and writes of the measurement tables; `tails` is this process's read cache."""

    def __init__(self, database: Database, tails: ReadTails | None = None) -> None:
        self._db = database
        self.tails = tails or ReadTails()

    # -- writing ------------------------------------------------------------------------

    async def apply(self, batch: Batch) -> Applied:
        """Store `batch` in one transaction; raises `StoreUnavailable` (retriable) when it
        could not, and then this process's tails of its meters are dropped."""
        try:
            async with self._db.begin() as connection:
                return await self._apply(connection, batch)
        except BaseException:
            self.tails.drop(batch.reads)
            raise

    async def _apply(self, connection: AsyncConnection, batch: Batch) -> Applied:
        await self._load_tails(connection, batch.reads)
        by_meter: dict[tuple[str, int], Contribution] = {}
        inserts: list[tuple[object, ...]] = []
        replaced: list[dict[str, Any]] = []
        known = 0
        lateness: list[float] = []
        for meter_id, reads in batch.reads.items():
            tail = self.tails.get(meter_id)
            assert tail is not None, "every meter of the batch was loaded"
            meter = tail.meter
            for read in reads:
                latest = meter.reads[-1].at if meter.reads else read.at
                was_there = _index_of(meter, read.at) is not None
                changes: Ledger | None = meter.add(read)
                if changes is None:
                    known += 1
                    continue
                if was_there:
                    replaced.append(_read_row(meter_id, read))
                else:
                    inserts.append(
                        (
                            meter_id,
                            read.at,
                            read.delivered,
                            read.received,
                            read.multiplier,
                            read.divisor,
                        )
                    )
                lateness.append(max(0.0, latest - read.at))
                for start, part in changes.items():
                    by_meter.setdefault((meter_id, start), Contribution()).add(part)
            tail.trim()
        if inserts:
            await connection.exec_driver_sql(self._db.driver_sql(_INSERT_READS), inserts)
        if replaced:
            await connection.execute(
                update(meter_reads)
                .where(meter_reads.c.meter_id == bindparam("b_meter"))
                .where(meter_reads.c.read_at == bindparam("b_at")),
                [{"b_meter": row["meter_id"], "b_at": row["read_at"], **row} for row in replaced],
            )
        rows = await self._add_intervals(connection, by_meter)
        rows += await self._put_usage(connection, batch.usage)
        await self._put_prices(connection, batch.prices)
        return Applied(len(inserts) + len(replaced), known, lateness, rows)

    async def _load_tails(
        self, connection: AsyncConnection, reads: Mapping[str, list[Read]]
    ) -> None:
        """Make sure every meter of `reads` has a tail covering its reads: two queries for all
        the meters that need loading, then one for each of those whose older reads are far
        back."""
        needed = {
            meter_id: min(read.at for read in of_meter)
            for meter_id, of_meter in reads.items()
            if not _covered(self.tails.get(meter_id), of_meter)
        }
        if not needed:
            return
        since = min(needed.values())
        loaded: dict[str, list[Read]] = {meter_id: [] for meter_id in needed}
        query = (
            select(meter_reads)
            .where(meter_reads.c.meter_id.in_(list(needed)))
            .where(meter_reads.c.read_at >= since)
            .order_by(meter_reads.c.meter_id, meter_reads.c.read_at)
        )
        for row in await connection.execute(query):
            loaded[row.meter_id].append(_read(row))
        before = (
            select(meter_reads.c.meter_id, func.max(meter_reads.c.read_at))
            .where(meter_reads.c.meter_id.in_(list(needed)))
            .where(meter_reads.c.read_at < since)
            .group_by(meter_reads.c.meter_id)
        )
        previous = [(meter_id, at) for meter_id, at in await connection.execute(before)]
        if previous:
            rows = await connection.execute(
                select(meter_reads).where(
                    tuple_(meter_reads.c.meter_id, meter_reads.c.read_at).in_(previous)
                )
            )
            for row in rows:
                loaded[row.meter_id].insert(0, _read(row))
        has_previous = {meter_id for meter_id, _ in previous}
        for meter_id, tail_reads in loaded.items():
            self.tails.put(meter_id, Tail(Meter(tail_reads), whole=meter_id not in has_previous))

    async def _add_intervals(
        self, connection: AsyncConnection, changes: Mapping[tuple[str, int], Contribution]
    ) -> int:
        if not changes:
            return 0
        rows = [
            (
                HAN,
                meter_id,
                start,
                part.imported,
                part.exported,
                part.actual,
                part.estimated,
                part.missing,
            )
            for (meter_id, start), part in changes.items()
        ]
        await connection.exec_driver_sql(self._db.driver_sql(_ADD_INTERVALS), rows)
        return len(rows)

    async def _put_usage(
        self, connection: AsyncConnection, usage: Mapping[str, Mapping[int, float]]
    ) -> int:
        rows = [
            {
                "source": LIGHT,
                "series": location,
                "start": start,
                "imported": kwh,
                "exported": 0.0,
                "actual": float(INTERVAL_SECONDS),
                "estimated": 0.0,
                "missing": 0.0,
            }
            for location, intervals in usage.items()
            for start, kwh in intervals.items()
        ]
        if not rows:
            return 0
        insert = self._db.insert(measurement_intervals)
        statement = insert.on_conflict_do_update(
            index_elements=["source", "series", "start"],
            set_={"imported": insert.excluded.imported},
        )
        await connection.execute(statement, rows)
        return len(rows)

    async def _put_prices(
        self, connection: AsyncConnection, prices: Mapping[str, Sequence[PriceSpan]]
    ) -> None:
        rows = [
            {
                "home_id": home,
                "start": stretch.start,
                "end": stretch.end,
                "imported": stretch.imported,
                "exported": stretch.exported,
            }
            for home, spans in prices.items()
            for stretch in spans
        ]
        if not rows:
            return
        insert = self._db.insert(price_spans)
        statement = insert.on_conflict_do_update(
            index_elements=["home_id", "start"],
            set_={
                "end": insert.excluded.end,
                "imported": insert.excluded.imported,
                "exported": insert.excluded.exported,
            },
        )
        await connection.execute(statement, rows)

    async def forget_before(self, cutoff: float) -> int:
        """Delete reads, intervals and prices older than `cutoff` (Unix seconds); how many
        intervals went. The tails are dropped: their oldest reads may be gone."""
        async with self._db.begin() as connection:
            await connection.execute(delete(meter_reads).where(meter_reads.c.read_at < cutoff))
            await connection.execute(delete(price_spans).where(price_spans.c.end < cutoff))
            gone = await connection.execute(
                delete(measurement_intervals).where(measurement_intervals.c.start < cutoff)
            )
        self.tails.clear()
        return int(gone.rowcount or 0)

    # -- reading ------------------------------------------------------------------------

    async def intervals(
        self, source: str, series: str, start: int, end: int
    ) -> dict[int, Interval]:
        """The stored intervals of one series from `start` to `end` (Unix seconds), by start."""
        return (await self.intervals_of({source: series}, start, end))[source]

    async def intervals_of(
        self, series: Mapping[str, str], start: int, end: int
    ) -> dict[str, dict[int, Interval]]:
        """The stored intervals of several series (series id by source), each a range of the
        primary key."""
        async with self._db.connect() as connection:
            return {
                source: await self._intervals(connection, source, series_id, start, end)
                for source, series_id in series.items()
            }

    async def to_choose(
        self, series: Mapping[str, str], start: int, end: int, choice: Choice = "best"
    ) -> dict[str, dict[int, Interval]]:
        """What `chosen(..., choice)` reads of `series` (in order of preference): the one
        source chosen, or for `best` what `best_of` reads."""
        if choice == "best":
            return await self.best_of(series, start, end)
        return await self.intervals_of(
            {source: id_ for source, id_ in series.items() if source == choice}, start, end
        )

    async def best_of(
        self, series: Mapping[str, str], start: int, end: int
    ) -> dict[str, dict[int, Interval]]:
        """What `chosen(..., "best")` reads of `series` (in order of preference): each source's
        intervals over the range its preferred sources did not give as actual. The choice is
        the one `intervals_of` gives; a bound device that read every interval spares reading
        Light's usage."""
        found: dict[str, dict[int, Interval]] = {}
        actual: set[int] = set()
        wanted: tuple[int, int] | None = (start, end)
        async with self._db.connect() as connection:
            for source, series_id in series.items():
                if wanted is None:
                    found[source] = {}
                    continue
                intervals = await self._intervals(connection, source, series_id, *wanted)
                found[source] = intervals
                actual.update(at for at, one in intervals.items() if one.quality is Quality.ACTUAL)
                wanted = unsettled(actual, start, end)
        return found

    async def _intervals(
        self, connection: AsyncConnection, source: str, series_id: str, start: int, end: int
    ) -> dict[int, Interval]:
        # Straight to the driver, one range of the primary key: a month is thousands of rows,
        # and SQLite planned a row-value IN over several series by the start index alone,
        # every series' rows of the month (bench/README.md).
        statement = self._db.driver_sql(INTERVALS_QUERY)
        rows = await connection.exec_driver_sql(statement, (source, series_id, start, end))
        return {int(row[0]): settled(int(row[0]), *row[1:]) for row in rows}

    async def latest(self, source: str, series: str) -> int | None:
        """The start of the series' latest interval (None: it has none)."""
        table = measurement_intervals.c
        query = select(func.max(table.start)).where(table.source == source, table.series == series)
        async with self._db.connect() as connection:
            found = await connection.scalar(query)
        return None if found is None else int(found)

    async def prices(self, home_id: str, start: float, end: float) -> list[PriceSpan]:
        """WattShift's price spans of `home_id` overlapping `start` to `end`, in time order."""
        table = price_spans.c
        query = (
            select(table.start, table.end, table.imported, table.exported)
            .where(table.home_id == home_id, table.end > start, table.start < end)
            .order_by(table.start)
        )
        async with self._db.connect() as connection:
            return [PriceSpan(*row) for row in await connection.execute(query)]

    async def reads_of(self, meter_id: str) -> list[Read]:
        """Every stored read of a meter, in time order (for tests and the console)."""
        query = (
            select(meter_reads)
            .where(meter_reads.c.meter_id == meter_id)
            .order_by(meter_reads.c.read_at)
        )
        async with self._db.connect() as connection:
            return [_read(row) for row in await connection.execute(query)]


def _covered(tail: Tail | None, reads: Sequence[Read]) -> bool:
    return tail is not None and all(tail.covers(read.at) for read in reads)


def _index_of(meter: Meter, at: float) -> int | None:
    for index in range(len(meter.reads) - 1, -1, -1):
        known = meter.reads[index].at
        if known == at:
            return index
        if known < at:
            return None
    return None


def _read(row: Any) -> Read:
    return Read(row.read_at, row.delivered, row.received, row.multiplier, row.divisor)


def _read_row(meter_id: str, read: Read) -> dict[str, Any]:
    return {
        "meter_id": meter_id,
        "read_at": read.at,
        "delivered": read.delivered,
        "received": read.received,
        "multiplier": read.multiplier,
        "divisor": read.divisor,
    }
