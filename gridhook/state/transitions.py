"""State transitions: what each event says about which entities, as pure functions.

`updates_for(topic, event, seq)` turns one CloudEvent into `EntityUpdate`s; the store merges them
with `gridhook.state.facts.merge`, then `reconciled` makes what the merged facts imply explicit.
Nothing here does I/O. A record that cannot be understood raises `UnapplicableEvent`, a
permanent error: the runtime dead-letters it and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from gridhook.contract import topics
from gridhook.contract.codec import CloudEvent, format_time, parse_time
from gridhook.contract.errors import UnapplicableEvent
from gridhook.contract.event_types import ACCOUNT_ERASED
from gridhook.state import binds, bright, installations, light, people, powerbox
from gridhook.state.facts import EntityUpdate, Fact, Facts
from gridhook.state.kinds import (
    BRIGHT_ACCOUNT,
    POWERBOX_CUSTOMER,
    WATTSHIFT_HOME,
)


def event_time(raw: Any) -> str:
    """An RFC 3339 timestamp normalised to UTC with microseconds (comparable as text).

    Any fraction is accepted (partners send nanoseconds); digits past microseconds are dropped.
    """
    if not isinstance(raw, str):
        raise UnapplicableEvent("event time is missing")
    try:
        if _is_normal(raw):
            datetime.fromisoformat(raw)  # still checked: the shape alone is not a time
            return raw
        return format_time(parse_time(raw))
    except ValueError:
        raise UnapplicableEvent("event time is not RFC 3339") from None


def _is_normal(raw: str) -> bool:
    """Whether `raw` already has the shape `format_time` gives: `2026-01-02T03:04:05.678901Z`."""
    return len(raw) == 27 and raw[26] == "Z" and raw[19] == "." and raw[10] == "T"


def _document(event: CloudEvent) -> dict[str, Any]:
    try:
        document = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UnapplicableEvent("record value is not JSON") from None
    if not isinstance(document, dict):
        raise UnapplicableEvent("record value is not a JSON object")
    return document


def _light(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    try:
        account_uuid = str(document["data"]["account"]["uuid"])
    except (KeyError, TypeError):
        raise UnapplicableEvent("Light event has no data.account.uuid") from None
    return light.light_updates(
        event, document, account_uuid, event_time(document.get("created_at"))
    )


def _powerbox_customer(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    try:
        return powerbox.customer_updates(event, document, seq)
    except (KeyError, TypeError, AttributeError):
        raise UnapplicableEvent("customer sync lacks clientId or a meterId") from None


def _powerbox_bind_request(
    event: CloudEvent, document: dict[str, Any], seq: int
) -> list[EntityUpdate]:
    return binds.request_updates(event, seq)


def _powerbox_bind_result(
    event: CloudEvent, document: dict[str, Any], seq: int
) -> list[EntityUpdate]:
    at = event_time(document.get("occurredAt"))
    return binds.result_updates(event, document, at, seq)


def _wattshift(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    try:
        signal = document["data"]
        home_id = str(signal["homeId"])
    except (KeyError, TypeError):
        raise UnapplicableEvent("price signal has no data.homeId") from None
    at = event_time(document.get("createdAt") or format_time(event.time))
    return [EntityUpdate(WATTSHIFT_HOME, home_id, {"price_signal": Fact(signal, at, event.id)})]


def _bright(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    try:
        account_id = str(document["accountId"])
    except KeyError:
        raise UnapplicableEvent("Bright event has no accountId") from None
    # Last seen is the receipt time when the body says nothing of when it happened.
    at = event_time(document.get("occurredAt") or format_time(event.time))
    return [EntityUpdate(BRIGHT_ACCOUNT, account_id, bright.bright_facts(event.type, at, event.id))]


def _people(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    """A person record; an account's erasure changes nothing here (the applier erases, with
    the key store, before it applies the batch)."""
    if event.type == ACCOUNT_ERASED:
        return []
    at = event_time(document.get("occurredAt") or format_time(event.time))
    return people.record_updates(document, Fact(None, at, event.id))


Transition = Callable[[CloudEvent, dict[str, Any], int], list[EntityUpdate]]

_BY_TOPIC: dict[str, Transition] = {
    topics.LIGHT_EVENTS: _light,
    topics.POWERBOX_CUSTOMERS: _powerbox_customer,
    topics.POWERBOX_BIND_REQUESTS: _powerbox_bind_request,
    topics.POWERBOX_BIND_RESULTS: _powerbox_bind_result,
    topics.WATTSHIFT_PRICE_SIGNALS: _wattshift,
    topics.BRIGHT_EVENTS: _bright,
    topics.INSTALLATIONS: installations.created_updates,
    topics.INSTALLATION_EVENTS: installations.step_updates,
    topics.PEOPLE: _people,
}

APPLIED_TOPICS = tuple(_BY_TOPIC)
"""The topics the state applier has a transition for: those `topics.STATE_APPLIER` reads."""

RECONCILERS: dict[str, Callable[[Facts], Facts]] = {
    POWERBOX_CUSTOMER: powerbox.reconcile_customer,
}
"""What the store makes explicit after merging an entity of each kind (`Store(reconcilers=)`)."""


def erased_account(topic: str, event: CloudEvent) -> str | None:
    """The account whose people the record erases: Bright reports the account deleted, or an
    operator erased it (`gridhook erase`); None for every other record."""
    if topic == topics.BRIGHT_EVENTS and event.type == "accountDeleted":
        account = _document(event).get("accountId")
        return account if isinstance(account, str) else None
    if topic == topics.PEOPLE and event.type == ACCOUNT_ERASED:
        account = _document(event).get("accountId")
        return account if isinstance(account, str) else None
    return None


def updates_for(topic: str, event: CloudEvent, seq: int) -> list[EntityUpdate]:
    """The entity updates one record of `topic` makes; `seq` is the offset it was first
    published at in its partition (`gridhook.contract.codec.first_position`)."""
    transition = _BY_TOPIC.get(topic)
    if transition is None:
        raise UnapplicableEvent(f"no state transition for topic {topic}")
    return transition(event, _document(event), seq)


def reconciled(kind: str, facts: Facts) -> Facts:
    """`facts` of an entity of `kind` after a merge, with what they imply made explicit (a
    customer's removed meters); a pure function, so the merge stays order-independent."""
    reconcile = RECONCILERS.get(kind)
    return facts if reconcile is None else reconcile(facts)
