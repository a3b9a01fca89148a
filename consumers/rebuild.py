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

from consumers.applier import StateApplier
from gridhook.contract.errors import GroupActive
from gridhook.contract.settings import Settings
from gridhook.kafka import groups
from gridhook.kafka.consumer import ConsumerRuntime, Summary
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.store import Store
from gridhook.state.transitions import APPLIED_TOPICS

log = logging.getLogger("gridhook.rebuild")


async def rebuild(settings: Settings, group_id: str, since: datetime | None) -> Summary:
    """Clear the store, rewind `group_id`, re-apply up to today's end offsets."""
    bootstrap = settings.kafka.bootstrap
    if count := await groups.members(bootstrap, group_id):
        raise GroupActive(
            f"consumer group {group_id} has {count} active member(s): stop the state "
            "applier (`gridhook consume state`) first, then run the rebuild again"
        )
    starts, ends = await groups.rewind(bootstrap, group_id, list(APPLIED_TOPICS), since)
    store = Store(settings.store.database_url, writer=True)
    await store.migrate()
    await store.clear()
    span = sum(ends[tp] - starts[tp] for tp in ends)
    log.info("store cleared; re-applying", extra={"fields": {"records": span}})
    try:
        return await catch_up(settings, group_id, store, ends, starts)
    finally:
        await store.close()


async def catch_up(
    settings: Settings,
    group_id: str,
    store: Store,
    ends: groups.Offsets,
    starts: groups.Offsets | None = None,
) -> Summary:
    """Run the state applier as `group_id` until its committed offsets reach `ends` (partitions
    whose start is already at their end need nothing); return its totals."""
    starts = starts or {}
    bootstrap = settings.kafka.bootstrap
    publisher = KafkaPublisher(settings.kafka, bootstrap)
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
            done = await groups.committed(bootstrap, group_id)
            if all(end <= starts.get(tp, 0) or done.get(tp, -1) >= end for tp, end in ends.items()):
                stop.set()
            await asyncio.wait({running}, timeout=0.5)
        return await running
    finally:
        await publisher.stop()
