"""gridhook's subscriber kit: what a team needs to consume gridhook's topics.

The public API, versioned by `API_VERSION` (semantic: a minor version adds, a major version
may break; see docs/subscribers.md):

- `Subscription` and `run`: declare the group, topics, event types, handler, dead-letter topic
  and seen-events store; run it on the runtime gridhook's own consumers use.
- `Event`, `TraceContext`, `decode_event`, `encode_event`, `body_of`: a record as a typed
  event, its body as its schema's `TypedDict`.
- `SeenEvents`, `InMemorySeenEvents`, `SqliteSeenEvents`: effectively once on `ce_id`.
- `bodies`: a `TypedDict` per event schema, generated from `schemas/`.
- `RetriableError`: raise it (or a subclass) from a handler to have the batch retried.
"""

from gridhook.contract.errors import RetriableError
from gridhook.kafka.consumer import Summary
from gridhook.subscriber import bodies
from gridhook.subscriber.events import (
    Event,
    TraceContext,
    body_of,
    decode_event,
    encode_event,
    schema_of,
)
from gridhook.subscriber.seen import InMemorySeenEvents, SeenEvents, SqliteSeenEvents
from gridhook.subscriber.subscription import Handler, Subscription, run

API_VERSION = "1.0"

__all__ = [
    "API_VERSION",
    "Event",
    "Handler",
    "InMemorySeenEvents",
    "RetriableError",
    "SeenEvents",
    "SqliteSeenEvents",
    "Subscription",
    "Summary",
    "TraceContext",
    "bodies",
    "body_of",
    "decode_event",
    "encode_event",
    "run",
    "schema_of",
]
