"""What the console shows of an entity: its derived status, its facts as a timeline with
provenance, and the entities around it (an account's locations, a customer's meters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gridhook.state import kinds, light
from gridhook.state.facts import Facts
from gridhook.state.store import Entity, Store

KINDS = (
    kinds.LIGHT_ACCOUNT,
    kinds.LIGHT_LOCATION,
    kinds.POWERBOX_CUSTOMER,
    kinds.POWERBOX_METER,
    kinds.POWERBOX_BIND,
    kinds.INSTALLATION,
    kinds.WATTSHIFT_HOME,
    kinds.BRIGHT_ACCOUNT,
)
_CHILDREN = {
    kinds.LIGHT_ACCOUNT: kinds.LIGHT_LOCATION,
    kinds.POWERBOX_CUSTOMER: kinds.POWERBOX_METER,
}


@dataclass(frozen=True)
class TimelineEntry:
    name: str
    value: str
    at: str
    event_id: str
    seq: int | None


@dataclass(frozen=True)
class EntityPage:
    kind: str
    entity_id: str
    status: str | None
    details: dict[str, Any]
    timeline: list[TimelineEntry]
    parent: tuple[str, str] | None
    children: list[tuple[str, str, str | None]]


def timeline(facts: Facts) -> list[TimelineEntry]:
    """Every fact, newest first, with the event that set it."""
    entries = [
        TimelineEntry(name, _short(fact.value), fact.at, fact.event_id, fact.seq)
        for name, fact in facts.items()
    ]
    return sorted(entries, key=lambda entry: (entry.at, entry.name), reverse=True)


def derived_status(kind: str, facts: Facts, children: dict[str, Facts]) -> str | None:
    """The status the read API derives for an entity of `kind`; None when it has none."""
    if kind == kinds.LIGHT_ACCOUNT:
        return light.account_view(facts, children).status
    if kind == kinds.LIGHT_LOCATION:
        return light.location_view("", facts).service_status
    if kind == kinds.POWERBOX_CUSTOMER:
        return _text(facts, "acct_status")
    if kind == kinds.POWERBOX_METER:
        bind = facts.get("bind")
        return str(bind.value.get("state")) if bind and isinstance(bind.value, dict) else "unbound"
    if kind == kinds.POWERBOX_BIND:
        result = facts.get("result")
        if result and isinstance(result.value, dict):
            return str(result.value.get("outcome"))
        return None
    if kind == kinds.INSTALLATION:
        return _text(facts, "status")
    return None


async def entity_page(store: Store, kind: str, entity_id: str) -> EntityPage | None:
    entity = await store.entity(kind, entity_id)
    if entity is None:
        return None
    child_kind = _CHILDREN.get(kind)
    children: list[Entity] = (
        [] if child_kind is None else await store.children(child_kind, entity_id)
    )
    child_facts = {child.entity_id: child.facts for child in children}
    details: dict[str, Any] = {}
    if kind == kinds.LIGHT_ACCOUNT:
        view = light.account_view(entity.facts, child_facts)
        details = {"checklist": view.checklist, "light status": view.light_status}
    parent_kind = {v: k for k, v in _CHILDREN.items()}.get(kind)
    return EntityPage(
        kind=kind,
        entity_id=entity_id,
        status=derived_status(kind, entity.facts, child_facts),
        details=details,
        timeline=timeline(entity.facts),
        parent=(parent_kind, entity.parent_id) if parent_kind and entity.parent_id else None,
        children=[
            (child.kind, child.entity_id, derived_status(child.kind, child.facts, {}))
            for child in children
        ],
    )


def _text(facts: Facts, name: str) -> str | None:
    fact = facts.get(name)
    return None if fact is None or fact.value is None else str(fact.value)


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"
