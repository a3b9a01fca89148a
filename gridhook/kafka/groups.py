"""Consumer groups seen from outside: how many members one has, what it committed, and moving
its offsets back (`gridhook state rebuild`).

The group coordinator starts after the broker and moves between brokers, so every call is
retried through its passing errors for up to a minute.
"""

from __future__ import annotations

from datetime import datetime

from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay

from gridhook.contract.retries import backoff
from gridhook.kafka import clients, snapshot


def _coordinator_retries() -> AsyncRetrying:
    """Retries for the group coordinator's passing errors."""
    return AsyncRetrying(
        retry=retry_if_exception_type(KafkaError),
        wait=backoff(cap=2),
        stop=stop_after_delay(60),
        reraise=True,
    )


async def members(bootstrap: str, group_id: str) -> int:
    """How many members `group_id` has now."""
    async with clients.admin(bootstrap) as admin:
        async for attempt in _coordinator_retries():
            with attempt:
                responses = await admin.describe_consumer_groups([group_id])
    return sum(
        len(group["members"])
        for response in responses
        for group in response.to_object()["groups"]
        if group["group"] == group_id
    )


Offsets = dict[tuple[str, int], int]
"""Per `(topic, partition)`, an offset."""


async def committed(bootstrap: str, group_id: str) -> Offsets:
    """The offsets `group_id` has committed, per partition."""
    async with clients.admin(bootstrap) as admin:
        async for attempt in _coordinator_retries():
            with attempt:
                found = await admin.list_consumer_group_offsets(group_id)
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items()}


async def rewind(
    bootstrap: str, group_id: str, topics: list[str], since: datetime | None
) -> tuple[Offsets, Offsets]:
    """Commit, for `group_id`, the first offset of every partition of `topics` (or the first at
    or after `since`); return those starts and the partitions' ends now."""
    async with clients.consumer(bootstrap, group_id=group_id) as consumer:
        ranges = await snapshot.take(consumer, topics, since)
        consumer.assign(list(ranges))
        async with clients.translated():
            await consumer.commit({tp: start for tp, (start, _) in ranges.items()})
    starts = {(tp.topic, tp.partition): start for tp, (start, _) in ranges.items()}
    ends = {(tp.topic, tp.partition): end for tp, (_, end) in ranges.items()}
    return starts, ends
