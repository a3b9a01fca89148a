"""The measurements consumer: the `BatchHandler` of `powerbox.meter-reads`, `light.usage` and
`wattshift.price-signals`, writing each batch into the measurements store in one transaction
(`gridhook.state.measurements`).

Effectively once: a read is stored once, by meter and time, in the transaction that adds its
energy to the intervals, so a batch redelivered after a crash, or a partition's records read
again by its next owner, count nothing twice. Its cache of each meter's latest reads is
dropped whenever the group moves partitions, so a meter's next owner starts from what is
stored. Once a day it deletes what is older than the retention.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from gridhook.contract import topics
from gridhook.contract.codec import parse_time
from gridhook.contract.errors import InvalidRecord
from gridhook.kafka.consumer import Counts
from gridhook.kafka.records import InboundRecord
from gridhook.state.cost import PriceSpan
from gridhook.state.intervals import Read
from gridhook.state.measurements import HAN, LIGHT, Batch, Measurements

log = logging.getLogger("gridhook.measurements")

RETENTION_EVERY_SECONDS = 86_400.0
LATENESS_BUCKETS = (0.0, 60.0, 900.0, 3600.0, 4 * 3600.0, 86_400.0, 7 * 86_400.0)


class MeasurementMetrics:
    """The measurements consumer's own series, in its process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reads = Counter(
            "gridhook_meter_reads_applied",
            "Meter reads the measurements consumer took: new, or known already (a repeat).",
            ["outcome"],
            registry=registry,
        )
        self.intervals = Counter(
            "gridhook_intervals_written",
            "Interval rows written to the store (added to or replaced), by source.",
            ["source"],
            registry=registry,
        )
        self.lateness = Histogram(
            "gridhook_meter_read_lateness_seconds",
            "How far, in the meter's own time, a new read arrived behind the latest read "
            "already known for its meter (0: in order).",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )


def _json(record: InboundRecord) -> dict[str, Any]:
    try:
        document = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError:
        raise InvalidRecord("record is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidRecord("record is not a JSON object")
    return document


def take_reads(batch: Batch, document: dict[str, Any]) -> int:
    """Add a `powerbox.meter-reads` record's reads to `batch`; how many."""
    try:
        meter_id = str(document["meterId"])
        reads = [
            Read(
                parse_time(str(read["readAt"])).timestamp(),
                int(read["summationDelivered"]),
                int(read["summationReceived"]),
                int(read["multiplier"]),
                int(read["divisor"]),
            )
            for read in document["reads"]
        ]
    except (KeyError, TypeError, ValueError):
        raise InvalidRecord("meter reads record lacks meterId or a read's fields") from None
    if any(read.divisor <= 0 or read.multiplier <= 0 for read in reads):
        raise InvalidRecord("meter read with a multiplier or divisor of 0")
    batch.reads.setdefault(meter_id, []).extend(reads)
    return len(reads)


def take_usage(batch: Batch, document: dict[str, Any]) -> None:
    """Add a `light.usage` record's intervals to `batch` (a later record of a location
    replaces an earlier one's intervals)."""
    try:
        location = str(document["locationUuid"])
        intervals = {
            int(parse_time(str(raw["start"])).timestamp()): float(raw["kwh"])
            for raw in document["intervals"]
        }
    except (KeyError, TypeError, ValueError):
        raise InvalidRecord("usage record lacks locationUuid or an interval's fields") from None
    batch.usage.setdefault(location, {}).update(intervals)


def take_prices(batch: Batch, document: dict[str, Any]) -> None:
    """Add a price signal's spans to `batch`: the import price (the price when WattShift
    gives none) and the export price (0 when none)."""
    try:
        signal = document["data"]
        home = str(signal["homeId"])
        spans = [
            PriceSpan(
                parse_time(str(raw["startTime"])).timestamp(),
                parse_time(str(raw["endTime"])).timestamp(),
                float(raw["price"] if raw.get("import") is None else raw["import"]),
                float(raw.get("export") or 0.0),
            )
            for raw in signal["data"]
        ]
    except (KeyError, TypeError, ValueError):
        raise InvalidRecord("price signal lacks homeId or a span's fields") from None
    batch.prices.setdefault(home, []).extend(spans)


class MeasurementsConsumer:
    """Applies each batch to the measurements store; a `RebalanceAware` handler."""

    def __init__(
        self,
        measurements: Measurements,
        metrics: MeasurementMetrics,
        retention_days: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._measurements = measurements
        self._metrics = metrics
        self._retention = retention_days * 86_400.0
        self._clock = clock
        self._next_cleanup = clock()

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        batch = Batch()
        for record in records:
            try:
                document = _json(record)
                if record.topic == topics.METER_READS:
                    take_reads(batch, document)
                elif record.topic == topics.LIGHT_USAGE:
                    take_usage(batch, document)
                else:
                    take_prices(batch, document)
            except InvalidRecord as error:
                counts.rejected.append((record, error))
                continue
            counts.applied += 1
        applied = await self._measurements.apply(batch)
        self._metrics.reads.labels("new").inc(applied.new_reads)
        self._metrics.reads.labels("known").inc(applied.known_reads)
        for lateness in applied.lateness:
            self._metrics.lateness.observe(lateness)
        usage_rows = sum(len(intervals) for intervals in batch.usage.values())
        self._metrics.intervals.labels(HAN).inc(applied.intervals - usage_rows)
        self._metrics.intervals.labels(LIGHT).inc(usage_rows)
        await self._forget_old()
        return counts

    async def _forget_old(self) -> None:
        now = self._clock()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + RETENTION_EVERY_SECONDS
        gone = await self._measurements.forget_before(now - self._retention)
        if gone:
            log.info("old intervals deleted", extra={"fields": {"intervals": gone}})

    async def assigned(self, starts: dict[tuple[str, int], int]) -> None:
        self._measurements.tails.clear()

    async def revoked(self, partitions: list[tuple[str, int]]) -> None:
        self._measurements.tails.clear()
