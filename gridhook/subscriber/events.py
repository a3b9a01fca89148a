"""Decoding a gridhook record into a typed `Event`: its CloudEvents attributes, its trace
context, its tenant and its body as the `TypedDict` of its schema.

`decode_event` is pure (no I/O): it takes a record as any Kafka client reads it. Which schema a
body follows comes from the topic catalogue (`gridhook.contract.topics`): a topic with one
schema has it; Light's events have one per type (a type Light adds later decodes as a plain
dict). `encode_event` is its inverse, for a team's own tests and fixtures.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import orjson

from gridhook.contract import schemas
from gridhook.contract.codec import TENANT_HEADER, CloudEvent, decode, encode
from gridhook.contract.errors import InvalidRecord
from gridhook.contract.topics import DLQ_SUFFIX, all_topics
from gridhook.subscriber.bodies import BODIES

Body = TypeVar("Body")

TRACEPARENT = "ce_traceparent"
TRACESTATE = "ce_tracestate"


@dataclass(frozen=True)
class TraceContext:
    """The W3C trace context the record carries (`ce_traceparent`, `ce_tracestate`)."""

    traceparent: str
    tracestate: str | None = None


@dataclass(frozen=True)
class Event(Generic[Body]):
    """One record of a gridhook topic, decoded.

    `body` is the record's JSON value, typed by its schema's `TypedDict`
    (`gridhook.subscriber.bodies`); fields the schema does not name are kept. `extensions`
    holds the headers beyond the CloudEvents attributes, the trace context and the tenant,
    as text (`gridhook_first_published_at` on a replayed record, for example).
    """

    id: str
    source: str
    type: str
    time: datetime
    tenant: str
    key: str
    body: Body
    schema: str | None
    trace: TraceContext | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)
    topic: str = ""
    partition: int = -1
    offset: int = -1


@functools.cache
def _schemas_of(topic: str) -> tuple[str, ...]:
    name = topic.removesuffix(DLQ_SUFFIX)
    for candidate in all_topics():
        if candidate.name == name:
            return tuple(
                path for pattern in candidate.messages for path in schemas.matching(pattern)
            )
    return ()


def schema_of(topic: str, event_type: str) -> str | None:
    """The schema (path under `schemas/`) the bodies of `event_type` on `topic` follow, or
    None when gridhook names none (a topic it does not own, a type a partner added later)."""
    candidates = _schemas_of(topic)
    if len(candidates) == 1:
        return candidates[0]
    for path in candidates:
        if schemas.load(path).get("title") == event_type:
            return path
    return None


def decode_event(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    partition: int = -1,
    offset: int = -1,
) -> Event[Any]:
    """The event a record of `topic` carries; `InvalidRecord` (permanent) when it lacks a
    CloudEvents header or its value is not a JSON object."""
    cloud = decode(key, value, headers)
    try:
        body = orjson.loads(cloud.data)
    except orjson.JSONDecodeError:
        raise InvalidRecord("the record's value is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidRecord("the record's value is not a JSON object")
    extensions = {name: raw.decode(errors="replace") for name, raw in cloud.extensions}
    traceparent = extensions.pop(TRACEPARENT, None)
    tracestate = extensions.pop(TRACESTATE, None)
    return Event(
        id=cloud.id,
        source=cloud.source,
        type=cloud.type,
        time=cloud.time,
        tenant=extensions.pop(TENANT_HEADER, "default"),
        key=cloud.key.decode(errors="replace"),
        body=body,
        schema=schema_of(topic, cloud.type),
        trace=None if traceparent is None else TraceContext(traceparent, tracestate),
        extensions=extensions,
        topic=topic,
        partition=partition,
        offset=offset,
    )


def body_of(event: Event[Any], kind: type[Body]) -> Body:
    """`event.body` typed as `kind`, a `TypedDict` of `gridhook.subscriber.bodies`;
    `TypeError` when the event's schema has another one."""
    if event.schema is None or BODIES.get(event.schema) is not kind:
        raise TypeError(f"a {event.type} event on {event.topic} is not a {kind.__name__}")
    return cast(Body, event.body)


def encode_event(event: Event[Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The key, value and headers of a record carrying `event` (`decode_event`'s inverse)."""
    extensions = [(name, text.encode()) for name, text in event.extensions.items()]
    if event.trace is not None:
        extensions.append((TRACEPARENT, event.trace.traceparent.encode()))
        if event.trace.tracestate is not None:
            extensions.append((TRACESTATE, event.trace.tracestate.encode()))
    extensions.append((TENANT_HEADER, event.tenant.encode()))
    record = encode(
        CloudEvent(
            id=event.id,
            source=event.source,
            type=event.type,
            time=event.time,
            key=event.key.encode(),
            data=orjson.dumps(event.body),
            extensions=tuple(extensions),
        )
    )
    return record.key, record.value, record.headers
