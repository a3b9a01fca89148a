"""Reading records back from the real broker in tests, with deadlines instead of sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from gridhook.contract.codec import CloudEvent, encode
from gridhook.contract.settings import KafkaSettings
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.kafka.snapshot import partitions_of


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """The current end offset of every partition of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def read_records(
    bootstrap: str,
    topic: str,
    since: dict[TopicPartition, int],
    until: Callable[[list[ConsumerRecord]], bool],
    deadline: float = 20.0,
) -> list[ConsumerRecord]:
    """Records of `topic` after the offsets `since`, read until `until(records)` or the deadline."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        consumer.assign(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        async with asyncio.timeout(deadline):
            while not until(records):
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(batch)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records


async def group_caught_up(bootstrap: str, group_id: str, ends: dict[TopicPartition, int]) -> bool:
    """True when `group_id` has committed at least `ends` on every partition (False while the
    broker's group coordinator is still starting)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
    except KafkaError:
        return False
    finally:
        await admin.close()
    return all(
        end == 0 or (tp in committed and committed[tp].offset >= end) for tp, end in ends.items()
    )


async def all_end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = {}
    for topic in topics:
        ends.update(await end_offsets(bootstrap, topic))
    return ends


def by_position(offsets: dict[TopicPartition, int]) -> dict[tuple[str, int], int]:
    """`offsets` keyed by plain `(topic, partition)`, as `gridhook.kafka.groups` keys them."""
    return {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}


async def group_has_members(bootstrap: str, group_id: str) -> bool:
    """True when some consumer has joined `group_id`."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group_id])
    except KafkaError:
        return False
    finally:
        await admin.close()
    return any(
        group["members"]
        for response in responses
        for group in response.to_object()["groups"]
        if group["group"] == group_id
    )


async def publish_all(
    bootstrap: str, settings: KafkaSettings, topic: str, events: Sequence[CloudEvent]
) -> None:
    """Publish `events` to `topic` through the real publisher, waiting for every ack."""
    publisher = KafkaPublisher(settings, bootstrap)
    await publisher.start()
    try:
        for start in range(0, len(events), 1000):
            chunk = events[start : start + 1000]
            await asyncio.gather(*(publisher.publish(topic, encode(event)) for event in chunk))
    finally:
        await publisher.stop()


async def commit_at_end(bootstrap: str, group_id: str, topics: Sequence[str]) -> None:
    """Commit `group_id` at the end of `topics`, as a group that has read everything so far:
    a test's consumers then see only that test's records."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [tp for topic in topics for tp in await partitions_of(consumer, topic)]
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()


async def commit_offsets(bootstrap: str, group_id: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `group_id` at `offsets`, as a group that has read exactly that far."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


async def read_between(
    bootstrap: str, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> list[ConsumerRecord]:
    """Every record from `starts` up to `ends` (exclusive), partition by partition."""
    from gridhook.kafka import clients, snapshot

    ranges = {tp: (starts.get(tp, 0), end) for tp, end in ends.items()}
    records: list[ConsumerRecord] = []
    async with clients.consumer(bootstrap, group_id=None) as consumer:
        async for batch in snapshot.SnapshotReader(consumer, ranges).batches():
            records.extend(batch)
    return records
