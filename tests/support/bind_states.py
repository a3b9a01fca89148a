"""Putting a meter in a bind state as the bind forwarder would: requests admitted and finished
in `gridhook.state.meter_binds`, the one place a meter's bind state lives."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from gridhook.contract.codec import CloudEvent, encode, format_time
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.topics import POWERBOX_BIND_REQUESTS
from gridhook.kafka.records import InboundRecord
from gridhook.state.binds import BindRequest, BindState
from gridhook.state.meter_binds import MeterBinds, request_of
from gridhook.state.store import Store
from gridhook.state.tables import bind_arbiter
from tests.support.state_events import CLIENT, METER

MAC = "00:1B:C5:00:00:AA:BB:CC"
INSTALL_CODE = "83FED3407A939723A5C639B26916D505C3B5"


def bind_request_record(
    meter_id: str = METER, action_code: int = 1, mac: str = MAC, offset: int = 0
) -> InboundRecord:
    """A `powerbox.bind.requests` record as the ingress publishes it, with a new bind id."""
    body = {
        "hemProfileId": hem_profile_id(CLIENT),
        "macAddress": mac,
        "installCode": INSTALL_CODE,
        "meterId": meter_id,
        "actionCode": action_code,
    }
    event = CloudEvent(
        str(uuid.uuid4()), "powerbox", "powerbox.bind.requested", datetime.now(UTC),
        meter_id.encode(), orjson.dumps(body),
    )  # fmt: skip
    encoded = encode(event)
    return InboundRecord(
        POWERBOX_BIND_REQUESTS, 0, offset, encoded.key, encoded.value,
        tuple(encoded.headers), 0,
    )  # fmt: skip


async def put_bind_states(
    store: Store,
    states: Sequence[str],
    meter_id: str = METER,
    mac: str = MAC,
    times: Sequence[datetime] = (),
) -> None:
    """Take `meter_id` through `states` (`bind_pending`, `bound`, `bind_failed`,
    `unbind_pending`, `unbound`), each as the forwarder's admission or outcome, at `times`
    (now, when not given)."""
    now = [datetime.now(UTC)]
    binds = MeterBinds(store, clock=lambda: now[0])
    current: BindRequest | None = None
    for offset, name in enumerate(states):
        now[0] = times[offset] if offset < len(times) else datetime.now(UTC)
        state = BindState(name)
        if state in (BindState.BIND_PENDING, BindState.UNBIND_PENDING):
            code = 1 if state is BindState.BIND_PENDING else 0
            record = bind_request_record(meter_id, code, mac, offset)
            current = request_of(record)
            admitted = await binds.admit(current, record, redrive=False, deadline_at=2e9)
            assert admitted.decision == "accepted", f"{name} is not reachable from here"
            continue
        if current is None:  # an outcome with no request before it: bind first
            record = bind_request_record(meter_id, 1, mac, offset)
            current = request_of(record)
            await binds.admit(current, record, redrive=False, deadline_at=2e9)
        reason = "meter_unreachable" if state is BindState.BIND_FAILED else None
        await binds.finish(current, state, reason)
        await binds.mark_published(current)
        current = None


async def put_bound(store: Store, meter_id: str = METER, mac: str = MAC) -> None:
    """Make `meter_id` hold `mac` in one transaction, as the forwarder's row reads once its
    bind is finished and published (no moment shows it pending)."""
    record = bind_request_record(meter_id, 1, mac)
    request = request_of(record)
    values = {
        "meter_id": meter_id, "bind_id": request.bind_id, "action": "bind", "state": "bound",
        "reason": None, "finished": True, "published": True, "request": record.to_json(),
        "updated_at": format_time(datetime.now(UTC)), "device_mac": mac, "deadline_at": 2e9,
        "attempts": 1, "round": 1, "reconciling": False, "partition": 0,
    }  # fmt: skip
    async with store.begin() as connection:
        await connection.execute(
            store.insert(bind_arbiter)
            .values(values)
            .on_conflict_do_update(index_elements=[bind_arbiter.c.meter_id], set_=values)
        )
