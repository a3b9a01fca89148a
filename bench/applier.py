"""The state applier's benchmarks (`make bench`, or `python -m bench applier` for these only).

The state topics are filled with the bench's mixed records (`fill`), then applied from their
start into a fresh store, on SQLite and on PostgreSQL:

- **one applier**: the applier as `gridhook state rebuild` runs it (`apply_all`, in this
  process, through `run_batch`);
- **in processes**: `PROCESSES` `gridhook consume state` processes in one new consumer group
  (the production shape: replicas share the partitions), timed from their start (start-up
  included) until the group's committed offsets reach the topics' ends.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.processes import consumed
from gridhook.contract import topics
from gridhook.contract.codec import CloudEvent, encode
from gridhook.contract.event_types import LIGHT_EVENT_TYPES
from gridhook.contract.settings import Settings
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.store import Store
from tests.support.kafka import all_end_offsets, by_position
from tests.support.light_payloads import light_event
from tests.support.partner_payloads import bright_event, customer_payload, price_signal

PROCESSES = 2


async def fill(
    bootstrap: str, settings: Settings, count: int, only_topic: str | None = None
) -> int:
    """Publish `count` mixed records over the state topics: Light events for 20,000 accounts,
    PowerBox customers, WattShift signals and Bright events (all to `only_topic` if given)."""
    rng = random.Random(7)
    publisher = KafkaPublisher(settings.kafka, bootstrap)
    await publisher.start()
    kinds = ["light"] * 14 + ["powerbox", "wattshift", "bright"] * 2
    light_bodies = [
        orjson.dumps(light_event(event_type, rng=rng)) for event_type in LIGHT_EVENT_TYPES
    ]
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for n in range(count):
            kind = rng.choice(kinds)
            now = datetime.now(UTC)
            if kind == "light":
                event_type = LIGHT_EVENT_TYPES[n % len(LIGHT_EVENT_TYPES)]
                account = f"acct-{n % 20_000}"
                body = light_bodies[n % len(LIGHT_EVENT_TYPES)].replace(
                    b'"uuid":"', f'"uuid":"{account}'.encode(), 1
                )
                topic, key, source = topics.LIGHT_EVENTS, account, "light"
            elif kind == "powerbox":
                document = customer_payload(rate=f"R{n % 7}")
                document["clientId"] = key = f"client-{n % 5000}"
                document["customerSites"][0]["meters"][0]["meterId"] = f"meter-{n % 5000}"
                topic, body, source, event_type = (
                    topics.POWERBOX_CUSTOMERS,
                    orjson.dumps(document),
                    "powerbox",
                    "powerbox.customer.synced",
                )
            elif kind == "wattshift":
                document = price_signal(f"home-{n % 5000}")
                topic, key, body, source, event_type = (
                    topics.WATTSHIFT_PRICE_SIGNALS,
                    f"home-{n % 5000}",
                    orjson.dumps(document),
                    "wattshift",
                    "price_signal.updated",
                )
            else:
                document = bright_event(rng.choice(["lastSeen", "accountCreated"]))
                document["accountId"] = key = f"br-{n % 5000}"
                document["occurredAt"] = now.isoformat()
                topic, body, source, event_type = (
                    topics.BRIGHT_EVENTS,
                    orjson.dumps(document),
                    "bright",
                    document["type"],
                )
            event = CloudEvent(
                f"bench-{uuid.uuid4().hex}", source, event_type, now, key.encode(), body
            )
            pending.append(await publisher.send(only_topic or topic, encode(event)))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                sent += len(pending)
                pending.clear()
        await asyncio.gather(*pending)
        sent += len(pending)
    finally:
        await publisher.stop()
    return sent


async def apply_all(bootstrap: str, settings: Settings, url: str) -> dict[str, Any]:
    """Run the state applier from the beginning until it caught up; events per second."""
    from consumers.rebuild import catch_up
    from gridhook.state.transitions import APPLIED_TOPICS

    store = Store(url, writer=True)
    await store.migrate()
    ends = await all_end_offsets(bootstrap, list(APPLIED_TOPICS))
    started = time.monotonic()
    try:
        group = f"bench-{uuid.uuid4().hex[:8]}"
        summary = await catch_up(settings, group, store, by_position(ends))
    finally:
        await store.close()
    elapsed = time.monotonic() - started
    return {
        "records": summary.records,
        "applied": summary.applied,
        "seconds": elapsed,
        "events_per_second": summary.records / elapsed,
        "batch": settings.store.consumer_batch,
    }


async def apply_in_processes(
    bootstrap: str, url: str, processes: int = PROCESSES
) -> dict[str, Any]:
    """`processes` `gridhook consume state` processes in one new group, from the topics' start
    into the fresh store at `url`, until the group caught up; events per second."""
    from gridhook.state.transitions import APPLIED_TOPICS

    store = Store(url, writer=True)
    await store.migrate()
    await store.close()
    ends = await all_end_offsets(bootstrap, list(APPLIED_TOPICS))
    group = f"bench-appliers-{uuid.uuid4().hex[:8]}"
    environment = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "GRIDHOOK_DATABASE_URL": url}
    elapsed = await consumed(bootstrap, "state", group, ends, environment, processes)
    records = sum(ends.values())
    return {
        "processes": processes,
        "records": records,
        "seconds": elapsed,
        "events_per_second": records / elapsed,
    }
