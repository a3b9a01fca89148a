"""`gridhook state rebuild`: rebuild the state store from the topics.

Clears the store, moves the state applier's group back to the beginning of its topics (or to
`since`), and applies every record up to the end offsets fixed at the start, then returns. The
rebuilt state equals the state before (with `since`, only what happened after it). The state
applier must be stopped first: Kafka will not move the offsets of a group with members.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from consumers.applier import StateApplier
from consumers.runtime import ConsumerRuntime, Summary
from gridhook.contract.errors import GroupActive
from gridhook.contract.settings import Settings
from gridhook.kafka import clients, snapshot
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.store import Store
from gridhook.state.transitions import APPLIED_TOPICS

log = logging.getLogger("gridhook.rebuild")


async def _members(admin: AIOKafkaAdminClient, group_id: str) -> int:
    async for attempt in _coordinator_retries():
        with attempt:
            responses = await admin.describe_consumer_groups([group_id])
    return sum(
        len(group["members"])
        for response in responses
        for group in response.to_object()["groups"]
        if group["group"] == group_id
    )


async def rebuild(
    settings: Settings, bootstrap: str, group_id: str, since: datetime | None
) -> Summary:
    """Clear the store, rewind `group_id`, re-apply up to today's end offsets."""
    async with clients.admin(bootstrap) as admin:
        if members := await _members(admin, group_id):
            raise GroupActive(
                f"consumer group {group_id} has {members} active member(s): stop the state "
                "applier (`gridhook consume state`) first, then run the rebuild again"
            )
    ranges = await _rewind(bootstrap, group_id, since)
    store = Store(settings.store.database_url, writer=True)
    await store.migrate()
    await store.clear()
    log.info("store cleared; re-applying", extra={"fields": {"records": _span(ranges)}})
    try:
        ends = {tp: end for tp, (_, end) in ranges.items()}
        starts = {tp: start for tp, (start, _) in ranges.items()}
        return await catch_up(settings, bootstrap, group_id, store, ends, starts)
    finally:
        await store.close()


async def catch_up(
    settings: Settings,
    bootstrap: str,
    group_id: str,
    store: Store,
    ends: dict[TopicPartition, int],
    starts: dict[TopicPartition, int] | None = None,
) -> Summary:
    """Run the state applier as `group_id` until its committed offsets reach `ends` (partitions
    whose start is already at their end need nothing); return its totals."""
    starts = starts or {}
    publisher = KafkaPublisher(settings.kafka, bootstrap)
    async with clients.admin(bootstrap) as admin:
        await publisher.start()
        try:
            runtime = ConsumerRuntime(
                bootstrap=bootstrap,
                kafka=settings.kafka,
                group_id=group_id,
                topics=APPLIED_TOPICS,
                handler=StateApplier(store, settings.store.applied_events_days),
                dead_letters=publisher,
                max_records=settings.store.consumer_batch,
            )
            stop = asyncio.Event()
            running = asyncio.create_task(runtime.run(stop))
            while not running.done():
                async for attempt in _coordinator_retries():
                    with attempt:
                        committed = await admin.list_consumer_group_offsets(group_id)
                if all(
                    end <= starts.get(tp, 0) or (tp in committed and committed[tp].offset >= end)
                    for tp, end in ends.items()
                ):
                    stop.set()
                await asyncio.wait({running}, timeout=0.5)
            return await running
        finally:
            await publisher.stop()


def _coordinator_retries() -> AsyncRetrying:
    """Retries for the group coordinator's passing errors (it starts after the broker)."""
    return AsyncRetrying(
        retry=retry_if_exception_type(KafkaError),
        wait=wait_exponential_jitter(multiplier=0.2, max=2),
        stop=stop_after_delay(60),
        reraise=True,
    )


def _span(ranges: snapshot.Ranges) -> int:
    return sum(end - start for start, end in ranges.values())


async def _rewind(bootstrap: str, group_id: str, since: datetime | None) -> snapshot.Ranges:
    """Commit the group's start offsets; return the snapshot they start."""
    async with clients.consumer(bootstrap, group_id=group_id) as consumer:
        ranges = await snapshot.take(consumer, APPLIED_TOPICS, since)
        consumer.assign(list(ranges))
        async with clients.translated():
            await consumer.commit({tp: start for tp, (start, _) in ranges.items()})
    return ranges
