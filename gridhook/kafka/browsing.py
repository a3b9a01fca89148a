"""Reading records for people (the operator console): one topic's records filtered and paged
newest first, one record by position, a message's records by CloudEvents id, topic sizes and
consumer lag.

Every read is a bounded snapshot with a group-less consumer (no committed offset moves). A
browse reads at most `SCAN_LIMIT` records per partition back from the end of the window, and
says so when it stopped there, so a page answers in about a second on a busy topic.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import ConsumerRecord, TopicPartition

from gridhook.contract.codec import header
from gridhook.contract.errors import TopicMissing
from gridhook.kafka import clients, snapshot

SCAN_LIMIT = 20_000
PAGE_SIZE = 50


@dataclass(frozen=True)
class RecordView:
    """A record as the console shows it."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: str
    event_id: str
    event_type: str
    source: str
    headers: tuple[tuple[str, str], ...]
    value: bytes

    @classmethod
    def of(cls, record: ConsumerRecord) -> RecordView:
        def text(name: str) -> str:
            return (header(record.headers, name) or b"").decode(errors="replace")

        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
            key=(record.key or b"").decode(errors="replace"),
            event_id=text("ce_id"),
            event_type=text("ce_type"),
            source=text("ce_source"),
            headers=tuple((name, raw.decode(errors="replace")) for name, raw in record.headers),
            value=record.value or b"",
        )

    def header(self, name: str) -> str | None:
        for candidate, value in self.headers:
            if candidate == name:
                return value
        return None


@dataclass(frozen=True)
class Filter:
    """Which records of a topic to show; empty criteria match everything."""

    since: datetime | None = None
    until: datetime | None = None
    key: str = ""
    type_glob: str = ""
    event_id: str = ""

    def matches(self, record: RecordView) -> bool:
        if self.until is not None and record.timestamp > self.until:
            return False
        if self.key and record.key != self.key:
            return False
        if self.type_glob and not fnmatch.fnmatchcase(record.event_type, self.type_glob):
            return False
        return not self.event_id or record.event_id == self.event_id


@dataclass(frozen=True)
class Page:
    records: list[RecordView]
    scanned: int
    truncated: bool
    has_more: bool


async def browse(
    bootstrap: str, topic: str, where: Filter, page: int = 0, size: int = PAGE_SIZE
) -> Page:
    """Page `page` of the records of `topic` that `where` matches, newest first."""
    wanted = (page + 1) * size
    async with clients.consumer(bootstrap, group_id=None) as consumer:
        ranges = await snapshot.take(consumer, [topic], where.since)
        truncated = any(end - start > SCAN_LIMIT for start, end in ranges.values())
        ranges = {tp: (max(start, end - SCAN_LIMIT), end) for tp, (start, end) in ranges.items()}
        matched: list[RecordView] = []
        scanned = 0
        async for batch in snapshot.SnapshotReader(consumer, ranges).batches():
            scanned += len(batch)
            matched.extend(view for view in map(RecordView.of, batch) if where.matches(view))
    matched.sort(key=lambda view: (view.timestamp, view.partition, view.offset), reverse=True)
    return Page(matched[page * size : wanted], scanned, truncated, has_more=len(matched) > wanted)


async def one(bootstrap: str, topic: str, partition: int, offset: int) -> RecordView | None:
    """The record at `topic/partition/offset`, or None when there is none (any more)."""
    tp = TopicPartition(topic, partition)
    async with clients.consumer(bootstrap, group_id=None) as consumer:
        ranges = await snapshot.take(consumer, [topic])
        if tp not in ranges:
            return None
        start, end = ranges[tp]
        if not start <= offset < end:
            return None
        reader = snapshot.SnapshotReader(consumer, {tp: (offset, offset + 1)})
        async for batch in reader.batches():
            for record in batch:
                if record.offset == offset:
                    return RecordView.of(record)
    return None


async def with_id(
    bootstrap: str, topics: Sequence[str], event_id: str, since: datetime | None
) -> list[RecordView]:
    """The records of `topics` (from `since`) whose CloudEvents id is `event_id`, or starts
    with `event_id:` (a bind request's results are `<bindId>:<outcome>`), oldest first."""
    found: list[RecordView] = []
    prefix = event_id + ":"
    async with clients.consumer(bootstrap, group_id=None) as consumer:
        ranges = await snapshot.take(consumer, list(topics), since)
        async for batch in snapshot.SnapshotReader(consumer, ranges).batches():
            for record in batch:
                raw = (header(record.headers, "ce_id") or b"").decode(errors="replace")
                if raw == event_id or raw.startswith(prefix):
                    found.append(RecordView.of(record))
    found.sort(key=lambda view: (view.timestamp, view.topic, view.offset))
    return found


async def sizes(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """How many offsets each of `topics` holds now (end minus beginning, summed); topics that
    do not exist are left out."""
    counts: dict[str, int] = {}
    async with clients.consumer(bootstrap, group_id=None) as consumer:
        for topic in topics:
            try:
                ranges = await snapshot.take(consumer, [topic])
            except TopicMissing:
                continue
            counts[topic] = sum(end - start for start, end in ranges.values())
    return counts


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def behind(self) -> int:
        return self.end - (self.committed or 0)


async def lags(bootstrap: str) -> list[Lag]:
    """Per consumer group of the cluster and partition, the committed and the end offset."""
    found: list[Lag] = []
    async with clients.admin(bootstrap) as admin:
        listed = await admin.list_consumer_groups()
        groups = sorted(group for group, protocol in listed if protocol == "consumer")
        committed = {group: await admin.list_consumer_group_offsets(group) for group in groups}
    tps = sorted({tp for offsets in committed.values() for tp in offsets})
    if not tps:
        return found
    async with clients.consumer(bootstrap, group_id=None) as consumer, clients.translated():
        ends = await consumer.end_offsets(tps)
    for group, offsets in committed.items():
        for tp, meta in sorted(offsets.items()):
            found.append(Lag(group, tp.topic, tp.partition, meta.offset, ends.get(tp, 0)))
    return found
