"""CloudEvents Kafka protocol binding, binary content mode.

A record's value is the event data exactly as received (bytes, never re-serialised), its key is
the partition key, and its headers carry the CloudEvents attributes as `ce_<name>` plus
`content-type`. `encode` and `decode` are inverse: `decode(*encode(event)) == event`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gridhook.contract.errors import InvalidRecord

SPEC_VERSION = "1.0"
CONTENT_TYPE_JSON = "application/json"

Headers = list[tuple[str, bytes]]

REPLAYED_FROM = "gridhook_replayed_from"
"""Extension header `gridhook replay` adds: `topic/partition/offset` of the record it copied."""
FIRST_PUBLISHED_AT = "gridhook_first_published_at"
"""Extension header `gridhook replay` adds, once: `topic/partition/offset` where the record was
first published (a dead letter's origin, not the DLQ). Consumers order by it, so a replayed old
record never passes a newer one."""
DLQ_HEADER_PREFIX = "dlq_"
"""Prefix of the headers a dead-letter record gains: `dlq_topic`, `dlq_partition`, ..."""

_REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")


@dataclass(frozen=True)
class CloudEvent:
    """One event as gridhook carries it on Kafka.

    `extensions` holds extra headers (for example `gridhook_origin` added by replay) in order;
    they round-trip untouched.
    """

    id: str
    source: str
    type: str
    time: datetime
    key: bytes
    data: bytes
    content_type: str = CONTENT_TYPE_JSON
    extensions: tuple[tuple[str, bytes], ...] = field(default=())


@dataclass(frozen=True)
class EncodedRecord:
    """What is handed to the Kafka producer."""

    key: bytes
    value: bytes
    headers: Headers


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as CloudEvents' `time` wants it."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_EXCESS_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(raw: str) -> datetime:
    """An RFC 3339 time of any precision (partners send nanoseconds; digits past microseconds
    are dropped), as an aware datetime (UTC when it names no zone); `ValueError` otherwise."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:  # more than six digits of fraction, or not a time at all
        moment = datetime.fromisoformat(_EXCESS_FRACTION.sub(r"\1", raw, count=1))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def encode(event: CloudEvent) -> EncodedRecord:
    """The Kafka key, value and headers of `event`."""
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", format_time(event.time).encode()),
        ("content-type", event.content_type.encode()),
    ]
    headers.extend(event.extensions)
    return EncodedRecord(key=event.key, value=event.data, headers=headers)


TENANT_HEADER = "ce_tenant"
"""The CloudEvents extension (Kafka binary mode) naming the tenant a record is for; a record
without one is the default tenant's."""


def tenant_of(event: CloudEvent) -> str:
    """The tenant `event` is for: its `ce_tenant`, or `default` when it has none."""
    for name, raw in event.extensions:
        if name == TENANT_HEADER:
            return raw.decode(errors="replace")
    return "default"


def decode(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> CloudEvent:
    """The event carried by a Kafka record; `InvalidRecord` when a required part is missing."""
    attributes: dict[str, bytes] = {}
    extensions: list[tuple[str, bytes]] = []
    for name, raw in headers:
        if name in _REQUIRED or name == "content-type":
            attributes[name] = raw
        else:
            extensions.append((name, raw))
    missing = [name for name in _REQUIRED if name not in attributes]
    if missing:
        raise InvalidRecord(f"record lacks CloudEvents headers: {', '.join(missing)}")
    if key is None:
        raise InvalidRecord("record has no key")
    try:
        text = {name: raw.decode() for name, raw in attributes.items()}
        moment = datetime.fromisoformat(text["ce_time"])
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord(f"record has malformed CloudEvents headers: {exc}") from None
    if text["ce_specversion"] != SPEC_VERSION:
        raise InvalidRecord(f"unsupported CloudEvents specversion {text['ce_specversion']!r}")
    return CloudEvent(
        id=text["ce_id"],
        source=text["ce_source"],
        type=text["ce_type"],
        time=moment,
        key=key,
        data=value or b"",
        content_type=text.get("content-type", CONTENT_TYPE_JSON),
        extensions=tuple(extensions),
    )


def header(headers: Iterable[tuple[str, bytes]], name: str) -> bytes | None:
    """The first header called `name`, or None."""
    for candidate, raw in headers:
        if candidate == name:
            return raw
    return None


@dataclass(frozen=True)
class Position:
    """Where a record stands: its topic, partition and offset."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @classmethod
    def parse(cls, raw: bytes) -> Position | None:
        """`topic/partition/offset`, or None when malformed."""
        topic, _, rest = raw.decode(errors="replace").rpartition("/")
        topic, _, partition = topic.rpartition("/")
        try:
            return cls(topic, int(partition), int(rest))
        except ValueError:
            return None


def first_position(position: Position, headers: Iterable[tuple[str, bytes]]) -> Position:
    """Where the record at `position` was first published: its `FIRST_PUBLISHED_AT` header
    (a replayed or re-driven record), else `position` itself."""
    raw = header(headers, FIRST_PUBLISHED_AT)
    first = Position.parse(raw) if raw is not None else None
    return first if first is not None and first.topic == position.topic else position
