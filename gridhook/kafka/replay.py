"""The replay core: re-drive records from Kafka by time, offsets, CloudEvents type, key, or
from a DLQ. `gridhook replay` (`producers.replay`) and the console's re-drives both run it.

Replay reads a fixed snapshot: each partition's end offset when it starts. Records published
while it runs, its own included, are never read, so replaying a topic into itself terminates.
It reads without a consumer group, so no service's committed offsets move. Each republished
record keeps its key, value and headers and gains `gridhook_replayed_from: topic/partition/offset`
and, unless it has one, `gridhook_first_published_at` (for a dead letter: its origin).
From a dead-letter topic (`dlq=True`), records go back to the topic named in their `dlq_topic`
header, without the `dlq_*` headers.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from gridhook.contract.codec import (
    DLQ_HEADER_PREFIX,
    FIRST_PUBLISHED_AT,
    REPLAYED_FROM,
    EncodedRecord,
    Position,
    header,
)
from gridhook.contract.errors import ConfigError
from gridhook.contract.topics import DLQ_SUFFIX
from gridhook.kafka import clients, snapshot
from gridhook.kafka.publisher import BulkPublisher

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PUBLISH_CHUNK = 2000
_FLUSHES_IN_FLIGHT = 4


def parse_moment(raw: str, now: datetime | None = None) -> datetime:
    """RFC 3339 (`2026-11-20T08:00:00Z`) or a duration before now (`90s`, `30m`, `2h`, `7d`)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(raw.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"not a time: {raw!r} (use RFC 3339, or 30m, 2h, 7d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_offsets(raw: str) -> dict[int | None, int]:
    """`1200` (every partition) or `0:1200,3:50` (per partition)."""
    offsets: dict[int | None, int] = {}
    try:
        for part in raw.split(","):
            partition, _, offset = part.strip().rpartition(":")
            offsets[int(partition) if partition else None] = int(offset)
    except ValueError:
        raise ConfigError(f"not an offset selection: {raw!r} (use 1200 or 0:1200,3:50)") from None
    if any(offset < 0 for offset in offsets.values()):
        raise ConfigError(f"offsets cannot be negative: {raw!r}")
    return offsets


@dataclass(frozen=True)
class Selection:
    """Which records to replay. Offset bounds are inclusive; every criterion must hold."""

    since: datetime | None = None
    until: datetime | None = None
    from_offsets: dict[int | None, int] = field(default_factory=dict)
    to_offsets: dict[int | None, int] = field(default_factory=dict)
    type_glob: str | None = None
    key: bytes | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ConfigError("--since is after --until")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("--limit must be at least 1")

    def bound(self, offsets: dict[int | None, int], partition: int) -> int | None:
        return offsets.get(partition, offsets.get(None))

    def narrowed(self, ranges: snapshot.Ranges) -> snapshot.Ranges:
        """`ranges` within the selection's inclusive offset bounds."""
        narrowed = {}
        for tp, (start, end) in ranges.items():
            low = self.bound(self.from_offsets, tp.partition)
            high = self.bound(self.to_offsets, tp.partition)
            start = start if low is None else max(start, low)
            end = end if high is None else min(end, high + 1)
            narrowed[tp] = (start, max(start, end))
        return narrowed

    def matches(self, record: ConsumerRecord) -> bool:
        if self.until is not None and record.timestamp > self.until.timestamp() * 1000:
            return False
        if self.key is not None and record.key != self.key:
            return False
        if self.type_glob is not None:
            event_type = (header(record.headers, "ce_type") or b"").decode(errors="replace")
            if not fnmatch.fnmatchcase(event_type, self.type_glob):
                return False
        return True


@dataclass
class ReplaySummary:
    scanned: int = 0
    selected: int = 0
    sent: int = 0
    seconds: float = 0.0
    targets: dict[str, int] = field(default_factory=dict)

    def line(self, source: str, dry_run: bool) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        verb = "would send" if dry_run else "sent"
        where = ", ".join(f"{topic}: {n}" for topic, n in sorted(self.targets.items()))
        return (
            f"replay {source}: scanned {self.scanned}, selected {self.selected}, {verb} "
            f"{self.selected if dry_run else self.sent}"
            + (f" ({where})" if where and not dry_run else "")
            + f" in {self.seconds:.1f} s ({rate:,.0f} records/s)"
        )


Progress = Callable[[int, int, float], None]


def redirected(
    record: ConsumerRecord, from_dlq: bool, to_topic: str | None
) -> tuple[str, EncodedRecord]:
    """Where a record goes and what is sent: same key, value and headers, plus where it was
    read (`REPLAYED_FROM`) and, once, where it was first published (`FIRST_PUBLISHED_AT`)."""
    here = f"{record.topic}/{record.partition}/{record.offset}".encode()
    names = [name for name, _ in record.headers]
    if from_dlq or REPLAYED_FROM in names:
        headers = [
            (name, value)
            for name, value in record.headers
            if name != REPLAYED_FROM and not (from_dlq and name.startswith(DLQ_HEADER_PREFIX))
        ]
    else:  # the common case, without a Python step per header
        headers = list(record.headers)
    headers.append((REPLAYED_FROM, here))
    if FIRST_PUBLISHED_AT not in names:
        first = _dead_letter_origin(record) if from_dlq else None
        headers.append((FIRST_PUBLISHED_AT, str(first).encode() if first else here))
    if from_dlq:
        target = header(record.headers, "dlq_topic")
        destination = to_topic or (
            target.decode() if target else record.topic.removesuffix(DLQ_SUFFIX)
        )
    else:
        destination = to_topic or record.topic
    return destination, EncodedRecord(
        key=record.key or b"", value=record.value or b"", headers=headers
    )


def _dead_letter_origin(record: ConsumerRecord) -> Position | None:
    """The position a dead letter's headers name, or None when they name none."""
    topic = header(record.headers, "dlq_topic")
    partition = header(record.headers, "dlq_partition")
    offset = header(record.headers, "dlq_offset")
    if topic is None or partition is None or offset is None:
        return None
    return Position.parse(b"/".join((topic, partition, offset)))


@dataclass(frozen=True)
class SentRecord:
    """One record a replay sends: where it was read, its event, where it goes."""

    topic: str
    partition: int
    offset: int
    event_id: str
    event_source: str
    destination: str


async def replay(
    bootstrap: str,
    topic: str,
    selection: Selection,
    publisher: BulkPublisher | None,
    *,
    dlq: bool = False,
    to_topic: str | None = None,
    rate: float | None = None,
    progress: Progress,
    dry_run_line: Callable[[str], None] = print,
    sent_record: Callable[[SentRecord], None] | None = None,
) -> ReplaySummary:
    """Replay the selected records of `topic` (its DLQ when `dlq`); `publisher` None is a dry
    run that prints one line per selected record. `sent_record` learns each record sent."""
    source = topic + DLQ_SUFFIX if dlq and not topic.endswith(DLQ_SUFFIX) else topic
    summary = ReplaySummary()
    started = time.monotonic()
    async with clients.consumer(
        bootstrap,
        group_id=None,
        isolation_level="read_committed",
        max_poll_records=_PUBLISH_CHUNK,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    ) as consumer:
        ranges = selection.narrowed(await snapshot.take(consumer, [source], selection.since))
        reader = snapshot.SnapshotReader(consumer, ranges)
        chunk = _PUBLISH_CHUNK if not rate else max(1, int(rate // 10))
        buffered: dict[str, list[EncodedRecord]] = {}
        in_flight: list[asyncio.Task[int]] = []

        async def flush() -> None:
            # Reading goes on while up to _FLUSHES_IN_FLIGHT chunks wait for their acks.
            if publisher is None:
                return  # a dry run buffers nothing
            for destination, records in buffered.items():
                in_flight.append(asyncio.create_task(publisher.send_many(destination, records)))
            buffered.clear()
            while len(in_flight) > _FLUSHES_IN_FLIGHT:
                summary.sent += await in_flight.pop(0)
            if rate:
                await _pace(started, summary.selected, rate)

        async for records in reader.batches():
            for record in records:
                if _limit_reached(selection, summary):
                    break
                summary.scanned += 1
                if not selection.matches(record):
                    continue
                summary.selected += 1
                if publisher is None:
                    dry_run_line(_describe(record))
                    continue
                destination, encoded = redirected(record, dlq, to_topic)
                summary.targets[destination] = summary.targets.get(destination, 0) + 1
                if sent_record is not None:
                    sent_record(
                        SentRecord(
                            record.topic,
                            record.partition,
                            record.offset,
                            (header(record.headers, "ce_id") or b"").decode(errors="replace"),
                            (header(record.headers, "ce_source") or b"").decode(errors="replace"),
                            destination,
                        )
                    )
                buffered.setdefault(destination, []).append(encoded)
                if sum(map(len, buffered.values())) >= chunk:
                    await flush()
            progress(reader.done, reader.total, time.monotonic() - started)
            if _limit_reached(selection, summary):
                break
        await flush()
        for task in in_flight:
            summary.sent += await task
        progress(reader.total, reader.total, time.monotonic() - started)
    summary.seconds = time.monotonic() - started
    return summary


def _limit_reached(selection: Selection, summary: ReplaySummary) -> bool:
    return selection.limit is not None and summary.selected >= selection.limit


async def _pace(started: float, count: int, rate: float) -> None:
    ahead = started + count / rate - time.monotonic()
    if ahead > 0:
        await asyncio.sleep(ahead)


def _describe(record: ConsumerRecord) -> str:
    moment = datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(timespec="milliseconds")
    event_type = (header(record.headers, "ce_type") or b"-").decode(errors="replace")
    key = (record.key or b"").decode(errors="replace")
    return f"{record.partition}\t{record.offset}\t{moment}\t{event_type}\t{key}"
