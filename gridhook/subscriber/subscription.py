"""A team's subscription to gridhook's topics, run by the runtime gridhook's own consumers use.

A `Subscription` declares what a team consumes: its consumer group, the topics, the event types
it wants (the others are skipped), its handler, its dead-letter topic and where it remembers
the events it handled. `run` consumes until `stop` is set, then returns the totals:

- each record is decoded into an `Event` (`decode_event`); one that cannot be decoded is
  dead-lettered, never handed over;
- an event already `seen` is skipped; otherwise the handler runs and the event is remembered
  (effectively once, with a `SeenEvents` that makes both durable together);
- offsets are committed after the handler returned, never before;
- a handler raising a `RetriableError` (`gridhook.contract.errors`) has the batch retried with
  backoff and jitter, nothing skipped; any other exception dead-letters that record, with
  headers naming its origin and the error, and the subscriber goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from gridhook.contract.errors import InvalidRecord
from gridhook.contract.settings import KafkaSettings, Settings
from gridhook.contract.topics import Topic
from gridhook.kafka.consumer import ConsumerRuntime, Counts, Summary
from gridhook.kafka.provision import ensure_topics
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.kafka.records import InboundRecord
from gridhook.subscriber.events import Event, decode_event
from gridhook.subscriber.seen import InMemorySeenEvents, SeenEvents

Handler = Callable[[Event[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """What a team consumes and how it handles it.

    `event_types` are CloudEvents types or shell-style patterns (`installation.*`); empty
    means every type. `dead_letter_topic` unset means `<topic>.dlq` per
    topic (gridhook's own dead-letter topics: a team that shares them with gridhook's
    consumers should give its own); `run` creates a named one when it is missing.
    """

    group: str
    topics: tuple[str, ...]
    handler: Handler
    event_types: frozenset[str] = frozenset()
    dead_letter_topic: str | None = None
    seen: SeenEvents = field(default_factory=InMemorySeenEvents)
    max_records: int = 500


class _Handling:
    """The runtime's batch handler for a subscription: decode, skip, dedup, handle, remember."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        wanted, seen = self._subscription.event_types, self._subscription.seen
        for record in records:
            try:
                event = decode_event(
                    record.topic,
                    record.key,
                    record.value,
                    record.headers,
                    partition=record.partition,
                    offset=record.offset,
                )
            except InvalidRecord as error:
                counts.rejected.append((record, error))
                continue
            if wanted and not any(fnmatchcase(event.type, pattern) for pattern in wanted):
                continue
            if await seen.seen(event.id):
                counts.duplicates += 1
                continue
            try:
                await self._subscription.handler(event)
            except BaseException:
                await seen.abandon()
                raise
            await seen.remember(event.id)
            counts.applied += 1
        return counts


async def run(
    subscription: Subscription,
    *,
    bootstrap: str,
    stop: asyncio.Event,
    kafka: KafkaSettings | None = None,
) -> Summary:
    """Consume `subscription` from `bootstrap` until `stop` is set; the totals.

    A new group starts at the topics' beginning. On `stop` the batch in hand is finished and
    committed, then the group is left.
    """
    # gridhook's own producer settings (its defaults, or KAFKA_* / GRIDHOOK_* when set)
    settings = kafka or replace(
        Settings.from_env().kafka,
        bootstrap_servers=bootstrap,
        client_id=f"subscriber-{subscription.group}",
    )
    if subscription.dead_letter_topic is not None:
        dead = Topic(
            subscription.dead_letter_topic,
            "the origin record's key",
            f"Records the subscriber {subscription.group} could not handle, with their origin.",
            6,
            (),
            {"cleanup.policy": "delete"},
        )
        await ensure_topics(bootstrap, settings.replication_factor, [dead])
    publisher = KafkaPublisher(settings, bootstrap)
    await publisher.start()
    try:
        runtime = ConsumerRuntime(
            bootstrap=bootstrap,
            kafka=settings,
            group_id=subscription.group,
            topics=subscription.topics,
            handler=_Handling(subscription),
            dead_letters=publisher,
            max_records=subscription.max_records,
            dead_letter_topic=subscription.dead_letter_topic,
        )
        return await runtime.run(stop)
    finally:
        await publisher.stop()
