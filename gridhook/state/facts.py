"""Entity state as last-writer-wins facts: a pure, order-independent merge.

An entity (a Light account, a PowerBox meter, ...) is a map of named facts. Each fact holds a
value, the time of the event that set it and that event's id, and, for facts whose order is
the order Kafka accepted them in, `seq`: the record's offset in its partition. Merging keeps,
per fact, the one with the greater `(seq, at, event_id)`, then value, for a total order. That
merge is commutative, associative and idempotent, so the state reached from a set of events does
not depend on the order they arrive in, nor on redeliveries: an older fact never overwrites a
newer one.

Which facts carry `seq`: those a partner sets without a clock of its own, where gridhook would
otherwise order them by the receipt times of different replicas (PowerBox customer syncs, keyed
by clientId, and bind results, keyed by meterId: one partition each). Facts with a partner's
own event time (Light's `created_at`, Bright's `occurredAt`) are ordered by that time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

JsonValue = Any


class Fact(NamedTuple):
    """One value and the event that set it. `at` is RFC 3339 UTC with microseconds, so that
    comparing strings compares times. (A named tuple: the applier makes millions of them.)"""

    value: JsonValue
    at: str
    event_id: str
    seq: int | None = None

    def newer_than(self, other: Fact) -> bool:
        """Ordered by sequence, time, event id, then value, so merging is a total order."""
        mine = (-1 if self.seq is None else self.seq, self.at, self.event_id)
        theirs = (-1 if other.seq is None else other.seq, other.at, other.event_id)
        if mine != theirs:
            return mine > theirs
        return _canonical(self.value) > _canonical(other.value)

    def to_json(self) -> dict[str, JsonValue]:
        value, at, event_id, seq = self
        if seq is None:
            return {"value": value, "at": at, "event_id": event_id}
        return {"value": value, "at": at, "event_id": event_id, "seq": seq}

    @classmethod
    def from_json(cls, raw: Mapping[str, JsonValue]) -> Fact:
        return cls(raw["value"], raw["at"], raw["event_id"], raw.get("seq"))


Facts = dict[str, Fact]


def _canonical(value: JsonValue) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def merge(current: Mapping[str, Fact], incoming: Mapping[str, Fact]) -> Facts:
    """`current` with each fact of `incoming` that is newer than the fact it would replace."""
    merged = dict(current)
    for name, fact in incoming.items():
        existing = merged.get(name)
        if existing is None or fact.newer_than(existing):
            merged[name] = fact
    return merged


def merge_into_json(stored: dict[str, JsonValue], incoming: Mapping[str, Fact]) -> None:
    """Merge `incoming` into `stored`, an entity's facts in their JSON form, in place: the rule
    of `merge`, compared on the stored JSON itself (the applier's inner loop: no `Fact` is
    built for a stored fact unless the two tie on sequence, time and event id)."""
    for name, fact in incoming.items():
        existing = stored.get(name)
        if existing is not None:
            _value, at, event_id, seq = fact
            mine = (-1 if seq is None else seq, at, event_id)
            stored_seq = existing.get("seq")
            theirs = (
                -1 if stored_seq is None else stored_seq,
                existing["at"],
                existing["event_id"],
            )
            if mine < theirs or (mine == theirs and not fact.newer_than(Fact.from_json(existing))):
                continue
        stored[name] = fact.to_json()


def facts_to_json(facts: Mapping[str, Fact]) -> dict[str, JsonValue]:
    return {name: fact.to_json() for name, fact in sorted(facts.items())}


def facts_from_json(raw: Mapping[str, JsonValue]) -> Facts:
    return {name: Fact.from_json(value) for name, value in raw.items()}


PARENT = "parent"
ALIAS = "alias"


@dataclass(frozen=True)
class EntityUpdate:
    """Facts an event sets on one entity. Two facts have a meaning for lookups: `parent` links
    a child to its owner (a location to its account, a meter to its customer) and `alias` is a
    second key (a customer's hemProfileId); like every fact, the newest wins."""

    kind: str
    entity_id: str
    facts: Facts
