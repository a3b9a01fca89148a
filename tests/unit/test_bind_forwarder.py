"""The bind forwarder's logic against the in-memory head-end and publisher, on SQLite."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.bind.forwarder import BindForwarder
from consumers.bind.gateway import FAILED, GatewayStatus
from gridhook.contract.codec import REPLAYED_FROM, CloudEvent, decode, encode, header
from gridhook.contract.settings import BindSettings
from gridhook.contract.topics import POWERBOX_BIND_REQUESTS, POWERBOX_BIND_RESULTS
from gridhook.kafka.records import InboundRecord
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.store import Store
from tests.support.bind_states import put_bind_states
from tests.support.fakes import InMemoryGateway, InMemoryPublisher
from tests.support.state_events import METER
from tests.support.waiting import eventually

MAC = "00:1B:C5:00:00:AA:BB:CC"
SETTINGS = BindSettings(
    gateway_url="memory:",
    gateway_timeout=1,
    max_attempts=3,
    backoff_max=0.01,
    poll_max=0.001,
    deadline=10,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'state.db'}", writer=True)
    await opened.migrate()
    yield opened
    await opened.close()


def forwarder(
    store: Store,
    gateway: InMemoryGateway,
    publisher: InMemoryPublisher,
    settings: BindSettings = SETTINGS,
) -> BindForwarder:
    return BindForwarder(store, gateway, publisher, settings)


def request(
    meter: str,
    action: int = 1,
    mac: str = MAC,
    offset: int = 0,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> InboundRecord:
    body = {"hemProfileId": "p", "macAddress": mac, "installCode": "00", "meterId": meter}
    event = CloudEvent(
        id=str(uuid.uuid4()),
        source="powerbox",
        type="powerbox.bind.requested",
        time=datetime.now(UTC),
        key=meter.encode(),
        data=orjson.dumps(body | {"actionCode": action}),
    )
    encoded = encode(event)
    every = (*encoded.headers, *headers)
    return InboundRecord(POWERBOX_BIND_REQUESTS, 0, offset, encoded.key, encoded.value, every, 0)


def redriven(record: InboundRecord, offset: int) -> InboundRecord:
    """`record` as `gridhook replay powerbox.bind.requests --dlq` sends it back."""
    origin = (REPLAYED_FROM, f"{POWERBOX_BIND_REQUESTS}.dlq/0/0".encode())
    return dataclasses.replace(record, offset=offset, headers=(*record.headers, origin))


def outcomes(publisher: InMemoryPublisher, meter: str) -> list[tuple[str, Any]]:
    found = []
    for record in publisher.published(POWERBOX_BIND_RESULTS):
        body = orjson.loads(record.value)
        if body["meterId"] == meter:
            found.append((body["outcome"], body["reason"]))
    return found


async def finished(publisher: InMemoryPublisher, meter: str, count: int) -> list[tuple[str, Any]]:
    async def enough() -> list[tuple[str, Any]]:
        seen = outcomes(publisher, meter)
        return seen if len(seen) >= count else []

    return await eventually(enough, 5, f"{count} results for {meter}")


async def test_an_accepted_bind_is_announced_driven_and_joined_once(store: Store) -> None:
    """pending, then bound: the head-end joined the device once."""
    gateway, publisher = InMemoryGateway(), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    counts = await bind.handle([request("m1")])
    assert counts.applied == 1
    assert await finished(publisher, "m1", 2) == [("pending", None), ("bound", None)]
    assert gateway.joins == {("m1", MAC): 1}
    await bind.close()


async def test_a_bind_on_a_pending_meter_is_rejected_without_calling_the_head_end(
    store: Store,
) -> None:
    """The second bind of a meter whose first is in flight: `rejected`, reason
    rejected_conflict, and never submitted."""
    gateway, publisher = InMemoryGateway(polls=10_000), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    first, second = request("m1"), request("m1", mac="00:1B:C5:00:00:AA:BB:DD")
    await bind.handle([first, second])
    assert outcomes(publisher, "m1") == [("pending", None), ("rejected", "rejected_conflict")]
    second_id = decode(second.key, second.value, second.headers).id
    assert second_id not in gateway.submissions
    await bind.close()


async def test_a_redelivered_request_is_a_duplicate(store: Store) -> None:
    """The same record twice (a redelivery after a crash) is admitted once."""
    gateway, publisher = InMemoryGateway(), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    record = request("m1")
    await bind.handle([record])
    await finished(publisher, "m1", 2)
    counts = await bind.handle([record])
    assert (counts.applied, counts.duplicates) == (0, 1)
    assert gateway.joins == {("m1", MAC): 1}
    await bind.close()


async def test_transient_head_end_failures_are_retried(store: Store) -> None:
    """Two 503s in a row are retried; the bind still ends bound, joined once."""
    gateway, publisher = InMemoryGateway(unavailable=2), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    await bind.handle([request("m1")])
    assert (await finished(publisher, "m1", 2))[-1] == ("bound", None)
    assert gateway.joins == {("m1", MAC): 1}
    await bind.close()


async def test_exhausted_retries_fail_the_request_and_dead_letter_it(store: Store) -> None:
    """An unreachable radio on every attempt: failed with its reason, record in the DLQ."""
    unreachable = GatewayStatus(FAILED, "meter_unreachable", transient=True)
    gateway, publisher = InMemoryGateway(outcome=lambda r: unreachable), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    record = request("m1")
    await bind.handle([record])
    assert (await finished(publisher, "m1", 2))[-1] == ("failed", "meter_unreachable")
    (dead,) = publisher.published(POWERBOX_BIND_REQUESTS + ".dlq")
    assert dead.value == record.value
    assert dict(dead.headers)["dlq_error_class"] == b"BindExhausted"
    await bind.close()


async def test_a_request_in_flight_at_close_is_resumed_by_the_next_forwarder(
    store: Store,
) -> None:
    """Closed while joining (a restart): the next forwarder resumes it; one join in all."""
    gateway, publisher = InMemoryGateway(polls=10_000), InMemoryPublisher()
    first = forwarder(store, gateway, publisher)
    await first.handle([request("m1")])
    await first.close()
    assert outcomes(publisher, "m1") == [("pending", None)]
    gateway.release()
    second = forwarder(store, gateway, publisher)
    assert await second.resume() == 1
    assert (await finished(publisher, "m1", 2))[-1] == ("bound", None)
    assert gateway.joins == {("m1", MAC): 1}
    await second.close()


async def test_unbind_after_bind_ends_unbound(store: Store) -> None:
    gateway, publisher = InMemoryGateway(), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    await bind.handle([request("m1")])
    await finished(publisher, "m1", 2)
    await bind.handle([request("m1", action=0, offset=1)])
    assert (await finished(publisher, "m1", 4))[2:] == [("pending", None), ("unbound", None)]
    assert gateway.devices["m1"] == set()
    await bind.close()


def test_results_name_their_request() -> None:
    """A result's id is `<bindId>:<outcome>`, so publishing a step again repeats the event."""
    from consumers.bind.results import result_record
    from gridhook.state.binds import BindState, Outcome
    from gridhook.state.meter_binds import request_of

    parsed = request_of(request("m1"))
    result = result_record(parsed, outcome=Outcome.BOUND, state=BindState.BOUND, reason=None)
    assert header(result.headers, "ce_id") == f"{parsed.bind_id}:bound".encode()
    assert result.key == b"m1"


async def test_a_request_past_its_deadline_fails_and_a_late_join_is_reconciled(
    store: Store,
) -> None:
    """No outcome before the deadline: failed (deadline_passed) and dead-lettered; when the
    head-end joins the device after all, `bound` is published, so nothing contradicts it."""
    gateway, publisher = InMemoryGateway(polls=10_000), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher, dataclasses.replace(SETTINGS, deadline=0.05))
    await bind.handle([request("m1")])
    failed = await finished(publisher, "m1", 2)
    assert failed[-1] == ("failed", "deadline_passed")
    assert len(publisher.published(POWERBOX_BIND_REQUESTS + ".dlq")) == 1
    gateway.release()
    assert (await finished(publisher, "m1", 3))[-1] == ("bound", None)
    assert gateway.joins == {("m1", MAC): 1}
    await bind.close()


async def test_an_unbind_naming_another_device_is_rejected(store: Store) -> None:
    """The meter stays bound to its device; the head-end is never asked."""
    gateway, publisher = InMemoryGateway(), InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    await bind.handle([request("m1")])
    await finished(publisher, "m1", 2)
    await bind.handle([request("m1", action=0, mac="00:1B:C5:00:00:AA:BB:00", offset=1)])
    assert outcomes(publisher, "m1")[-1] == ("rejected", "rejected_wrong_device")
    assert gateway.devices["m1"] == {MAC}
    await bind.close()


async def test_a_request_re_driven_from_the_dlq_is_driven_again(store: Store) -> None:
    """Exhausted, dead-lettered, the cause fixed, re-driven: a new round, bound this time."""
    unreachable = GatewayStatus(FAILED, "meter_unreachable", transient=True)
    gateway = InMemoryGateway(outcome=lambda r: unreachable)
    publisher = InMemoryPublisher()
    bind = forwarder(store, gateway, publisher)
    record = request("m1")
    await bind.handle([record])
    assert (await finished(publisher, "m1", 2))[-1] == ("failed", "meter_unreachable")
    gateway.outcome = None  # the meter's radio is repaired
    counts = await bind.handle([redriven(record, offset=5)])
    assert counts.applied == 1
    assert (await finished(publisher, "m1", 4))[2:] == [("pending", None), ("bound", None)]
    ids = [header(r.headers, "ce_id") for r in publisher.published(POWERBOX_BIND_RESULTS)]
    assert len(set(ids)) == 4, "each round's results are events of their own"
    assert (await bind.handle([redriven(record, offset=6)])).duplicates == 1, "bound: done"
    await bind.close()


async def test_attempts_are_counted_across_restarts(store: Store) -> None:
    """A forwarder that restarts goes on counting the attempts of a request: the head-end is
    asked at most GRIDHOOK_BIND_MAX_ATTEMPTS times in all."""
    unreachable = GatewayStatus(FAILED, "meter_unreachable", transient=True)
    gateway = InMemoryGateway(outcome=lambda r: unreachable)
    publisher = InMemoryPublisher()
    settings = dataclasses.replace(SETTINGS, max_attempts=4)
    first = forwarder(store, gateway, publisher, settings)
    await first.handle([request("m1")])
    await eventually(lambda: sum(gateway.submissions.values()) >= 2, 5, "two attempts")
    await first.close()
    second = forwarder(store, gateway, publisher, settings)
    await second.resume()
    assert (await finished(publisher, "m1", 2))[-1] == ("failed", "meter_unreachable")
    assert sum(gateway.submissions.values()) <= 4
    await second.close()


async def test_a_bound_meter_keeps_its_device(store: Store) -> None:
    """Once bound, the meter's one bind state names the device it holds."""
    await put_bind_states(store, ["bind_pending", "bound"])
    assert (await MeterBinds(store).current(METER)).device_mac == "00:1B:C5:00:00:AA:BB:CC"
