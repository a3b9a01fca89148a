"""Event sequences for one Light account and one PowerBox meter, for the state tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from gridhook.contract.codec import CloudEvent, format_time
from gridhook.contract.event_types import LIGHT_EVENT_TYPES
from gridhook.state.facts import Facts, merge
from gridhook.state.store import Application
from gridhook.state.transitions import reconciled, updates_for
from tests.support.light_payloads import light_event
from tests.support.partner_payloads import CLIENT as CLIENT
from tests.support.partner_payloads import METER as METER
from tests.support.partner_payloads import customer_body

ACCOUNT = "acct-7f3a"
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Recorded(NamedTuple):
    """An event as a record of its topic: `seq` is its offset in its partition, fixed, so that
    applying events in any order sees each at the same position."""

    topic: str
    event: CloudEvent
    seq: int


def light(event_type: str, minute: int) -> Recorded:
    body = light_event(
        event_type,
        ACCOUNT,
        rng=random.Random(minute),
        created_at=START + timedelta(minutes=minute),
    )
    body["data"].get("location", {})["uuid"] = "loc-1"
    body["data"]["account"]["enrollment"]["is_identity_verified"] = True
    event = CloudEvent(
        id=f"msg_{event_type}_{minute}",
        source="light",
        type=event_type,
        time=START + timedelta(minutes=minute, seconds=5),
        key=ACCOUNT.encode(),
        data=orjson.dumps(body),
    )
    return Recorded("light.events", event, minute)


def customer(
    status: str, minute: int, *, meters: list[str] | None = None, is_ami: bool = True
) -> Recorded:
    """A sync of CLIENT at offset `minute`, listing `meters` (METER unless given)."""
    listed = [METER] if meters is None else meters
    body = customer_body(CLIENT, listed, status=status, site_id="site-1", is_ami=is_ami)
    return customer_record(body, f"{CLIENT}:{status}:{minute}", minute, minute)


def customer_record(body: dict[str, Any], event_id: str, seq: int, minute: int) -> Recorded:
    """A customer sync `body` as the `powerbox.customers` record at offset `seq`, received
    `minute` minutes after START."""
    event = CloudEvent(
        id=event_id,
        source="powerbox",
        type="powerbox.customer.synced",
        time=START + timedelta(minutes=minute),
        key=str(body["clientId"]).encode(),
        data=orjson.dumps(body),
    )
    return Recorded("powerbox.customers", event, seq)


_OUTCOME_OF = {
    "bind_pending": "pending",
    "unbind_pending": "pending",
    "bound": "bound",
    "unbound": "unbound",
    "bind_failed": "failed",
}


def bind_result(state: str, minute: int, reason: str | None = None) -> Recorded:
    """A result as the forwarder publishes it, leaving the meter in `state`."""
    body = {
        "bindId": f"bind-{minute}",
        "meterId": METER,
        "action": "unbind" if state.startswith("unbind") or state == "unbound" else "bind",
        "outcome": _OUTCOME_OF[state],
        "state": state,
        "macAddress": "00:1B:C5:00:00:AA:BB:CC",
        "reason": reason,
        "occurredAt": format_time(START + timedelta(minutes=minute)),
    }
    event = CloudEvent(
        id=f"result-{minute}-{state}",
        source="gridhook-bind",
        type=f"powerbox.bind.{state}",
        time=START + timedelta(minutes=minute),
        key=METER.encode(),
        data=orjson.dumps(body),
    )
    return Recorded("powerbox.bind.results", event, minute)


def history() -> list[Recorded]:
    """A plausible in-order history: every Light type, customer versions, a bind cycle."""
    events = [light(event_type, minute) for minute, event_type in enumerate(LIGHT_EVENT_TYPES)]
    events.append(light("account.payment_successful", 30))
    events += [
        customer("A", 0),
        bind_result("bind_pending", 1),
        bind_result("bind_failed", 2, "meter_unreachable"),
        bind_result("bind_pending", 3),
        bind_result("bound", 4),
        customer("S", 5),
        bind_result("unbind_pending", 6),
        bind_result("unbound", 7),
        customer("A", 8),
    ]
    return events


State = dict[tuple[str, str], Facts]


def apply_all(events: list[Recorded]) -> State:
    """The pure fold of `events`, as the store applies them one by one."""
    state: State = {}
    for topic, event, seq in events:
        for update in updates_for(topic, event, seq):
            key = (update.kind, update.entity_id)
            state[key] = reconciled(update.kind, merge(state.get(key, {}), update.facts))
    return state


def applications(events: list[Recorded]) -> list[Application]:
    return [
        Application(f"{event.source}:{event.id}", topic, 0, seq, updates_for(topic, event, seq))
        for topic, event, seq in events
    ]


EXPECTED = apply_all(history())
