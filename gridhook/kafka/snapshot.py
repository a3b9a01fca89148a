"""A fixed snapshot of topics: per partition, a start offset and the end offset it had when
the snapshot was taken. Replay reads one; `state rebuild` re-applies one.

Records published after the snapshot (a replay's own among them) lie past its ends and are
never read, so reading a snapshot always terminates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from tenacity import stop_after_attempt

from gridhook.contract.errors import BrokerUnavailable, TopicMissing
from gridhook.contract.retries import retrying
from gridhook.kafka.clients import translated

_METADATA_ATTEMPTS = 5
"""Metadata requests `partitions_of` makes before giving up on a broker that does not answer."""

Ranges = dict[TopicPartition, tuple[int, int]]
"""Per partition, `(start, end)`: the first offset to read and the end, exclusive."""


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`; `TopicMissing` when the cluster has no such topic,
    `BrokerUnavailable` when no broker answers a metadata request."""
    found = consumer.partitions_for_topic(topic)
    if not found:
        unanswered = f"no broker answered a metadata request for {topic}"
        async for attempt in retrying(
            1.0,
            when=lambda error: isinstance(error, BrokerUnavailable),
            stop=stop_after_attempt(_METADATA_ATTEMPTS),
        ):
            with attempt:
                async with translated():
                    if not await consumer._client.force_metadata_update():
                        raise BrokerUnavailable(unanswered)
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise TopicMissing(f"topic {topic} does not exist")
    return [TopicPartition(topic, partition) for partition in sorted(found)]


async def take(
    consumer: AIOKafkaConsumer, topics: Sequence[str], since: datetime | None = None
) -> Ranges:
    """The snapshot of `topics` now: from each partition's first record (or its first record
    at or after `since`) to its end offset."""
    tps = [tp for topic in topics for tp in await partitions_of(consumer, topic)]
    async with translated():
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        starts = dict(beginnings)
        if since is not None:
            stamp = int(since.timestamp() * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
            starts = {
                tp: max(beginnings[tp], found[tp].offset if found[tp] else ends[tp]) for tp in tps
            }
    return {tp: (starts[tp], max(starts[tp], ends[tp])) for tp in tps}


class SnapshotReader:
    """Reads the records of `ranges` with an assigned (group-less) consumer, partition by
    partition in offset order, until every partition reaches its end."""

    def __init__(self, consumer: AIOKafkaConsumer, ranges: Ranges) -> None:
        self._consumer = consumer
        self._ranges = ranges
        self.position = {tp: start for tp, (start, _) in ranges.items()}

    @property
    def total(self) -> int:
        """How many offsets the snapshot spans."""
        return sum(end - start for start, end in self._ranges.values())

    @property
    def done(self) -> int:
        """How many offsets have been read so far."""
        return sum(self.position[tp] - start for tp, (start, _) in self._ranges.items())

    async def batches(self, timeout_ms: int = 1000) -> AsyncIterator[list[ConsumerRecord]]:
        """Batches of records of one partition each, within the snapshot."""
        active = {tp: end for tp, (start, end) in self._ranges.items() if start < end}
        self._consumer.assign(list(active))
        for tp in active:
            self._consumer.seek(tp, self.position[tp])
        while active:
            async with translated():
                fetched = await self._consumer.getmany(*active, timeout_ms=timeout_ms)
            for tp, records in fetched.items():
                end = active.get(tp)
                if end is None:
                    continue
                inside = [record for record in records if record.offset < end]
                if inside:
                    self.position[tp] = inside[-1].offset + 1
                    yield inside
                if len(inside) < len(records) or self.position[tp] >= end:
                    self.position[tp] = end
                    del active[tp]
            if not fetched:
                await self._skip_gaps(active)

    async def _skip_gaps(self, active: dict[TopicPartition, int]) -> None:
        """Finish partitions whose last offsets hold no record (compaction, transaction
        markers): the consumer's position passed the end without a record to show for it."""
        for tp, end in list(active.items()):
            async with translated():
                position = await self._consumer.position(tp)
            if position >= end:
                self.position[tp] = end
                del active[tp]
