"""A service with measurements, seeded straight into a store: an installation that enrolled a
Light location on a plan, its meter's reads, and Light's usage of the location."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

import orjson

from gridhook.contract.codec import CloudEvent
from gridhook.contract.topics import INSTALLATION_EVENTS, INSTALLATIONS
from gridhook.state.intervals import Read
from gridhook.state.measurements import Batch, Measurements
from gridhook.state.store import Store
from gridhook.state.transitions import RECONCILERS
from tests.support.state_events import Recorded, applications

INSTALLATION, METER, LOCATION = "inst-measured", "meter-measured", "loc-measured"
PLAN_CENTS = 12.5


def _event(topic: str, event_id: str, body: Mapping[str, object]) -> Recorded:
    key = str(body["installationId"]).encode()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    event = CloudEvent(event_id, "gridhook", "gridhook.installation", at, key, orjson.dumps(body))
    return Recorded(topic, event, int(event_id.rsplit(":", 1)[1]))


async def seed_service(store: Store, start: float, days: int, service_start: date) -> None:
    """The service `LOCATION` (meter `METER`, a 12.5 c/kWh plan from `service_start`) with
    `days` of reads every 15 minutes from `start` (250 Wh imported, 10 exported each) and of
    Light's usage (0.25 kWh each)."""
    chosen = {"planUuid": "p-1", "planName": "Bench 12", "price": PLAN_CENTS, "termMonths": 12}
    accepted = {
        "planUuid": "p-1",
        "planName": "Bench 12",
        "serviceStartDate": service_start.isoformat(),
        "locationUuid": LOCATION,
    }
    at = "2026-01-01T00:00:00Z"
    document = {"installationId": INSTALLATION, "meterId": METER}
    records = [_event(INSTALLATIONS, f"{INSTALLATION}:0", document)]
    for number, (status, detail) in enumerate(
        (("plan_chosen", chosen), ("plan_accepted", accepted)), start=1
    ):
        step = {"step": status, "status": status, "detail": detail, "occurredAt": at}
        body = {"installationId": INSTALLATION, **step}
        records.append(_event(INSTALLATION_EVENTS, f"{INSTALLATION}:{number}", body))
    await store.apply(applications(records), reconcilers=RECONCILERS)
    slots = days * 96
    reads = [Read(start + n * 900.0, n * 250, n * 10) for n in range(slots + 1)]
    usage = {int(start) + n * 900: 0.25 for n in range(slots)}
    await Measurements(store).apply(Batch(reads={METER: reads}, usage={LOCATION: usage}))
