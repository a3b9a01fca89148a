"""The webhooks Light sends about one enrollment, written into the emulator's outbox in the
transaction of the accept that causes them: `enrollment.plan_accepted` and
`enrollment.finalized` at once, `location.service_active` on the service start date, and
`location.usage_history_available` a day later, once the first day of usage is complete."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import aiosqlite
import orjson

from emulator import outbox
from emulator.scaled_time import ScaledCalendar, start_of
from gridhook.contract.codec import format_time

SERVICE_ACTIVE = "service_active"
USAGE_LAG_DAYS = 1
"""A day's usage is ready once the next day starts."""


async def enqueue_enrollment(
    db: aiosqlite.Connection,
    calendar: ScaledCalendar,
    account: dict[str, Any],
    created: dict[str, Any],
) -> None:
    """`enrollment.plan_accepted` and `enrollment.finalized` now, and
    `location.service_active` on the start date, with the location as it will be then."""
    location = dict(account["locations"][0])
    now = calendar.now()
    start = start_of(date.fromisoformat(created["service_start_date"]))
    active_account = orjson.loads(orjson.dumps(account))
    active_account["status"] = SERVICE_ACTIVE
    active_account["enrollment"]["is_service_active"] = True
    active_location = location | {"is_service_active": True}
    with_usage = active_location | {"has_usage_history": True}
    for event_type, at, body_account, body_location in (
        ("enrollment.plan_accepted", now, account, location),
        ("enrollment.finalized", now + timedelta(microseconds=1), account, location),
        ("location.service_active", max(start, now), active_account, active_location),
        (
            "location.usage_history_available",
            max(start, now) + timedelta(days=USAGE_LAG_DAYS),
            active_account,
            with_usage,
        ),
    ):
        event_id = f"evt_{uuid.uuid4().hex}"
        body_account = {k: v for k, v in body_account.items() if k != "locations"}
        event = {
            "id": event_id,
            "type": event_type,
            "created_at": format_time(at),
            "data": {"account": body_account, "location": body_location},
        }
        due = calendar.real_time_of(at)
        await outbox.enqueue(db, event_id, event_type, orjson.dumps(event), due)
