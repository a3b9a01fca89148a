"""The usage fetcher: the `BatchHandler` of `light.events`, and the only reader of Light's usage.

`location.usage_history_available` (or `location.service_active`) makes a location one whose
usage gridhook fetches, from the day its service started; `location.service_canceled` makes it
inactive once it has caught up. A task per active location asks Light (with the account's
token) for the days it does not have yet, publishes the complete ones (96 intervals each) to
`light.usage`, keyed by the location, records how far it got, and asks again every
`GRIDHOOK_USAGE_CHECK_SECONDS`: Light's usage of a day is ready the next day, so a location's
day arrives once, soon after Light's calendar turns.

A record is published before the day is recorded as fetched: a fetcher that dies between
the two publishes the day again, which replaces the same intervals with the same values.
Like the orchestrator, it drives only the locations of the partitions it holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from consumers.outbox import until_published
from consumers.partition_tasks import PartitionOwnedWork
from gridhook.contract import topics
from gridhook.contract.codec import CloudEvent, EncodedRecord, encode, format_time
from gridhook.contract.errors import InvalidRecord, PartnerRefused, RetriableError
from gridhook.contract.event_types import LIGHT_USAGE_FETCHED
from gridhook.contract.retries import backoff
from gridhook.contract.tenants import Registry, act_for
from gridhook.kafka.consumer import Counts
from gridhook.kafka.publisher import Publisher
from gridhook.kafka.records import InboundRecord
from gridhook.partners.light import LightUsage, LightUsageApi
from gridhook.state.usage_locations import UsageLocation, UsageLocations

log = logging.getLogger("gridhook.usage")

SOURCE = "gridhook-usage"
SLOTS_A_DAY = 96
MOST_DAYS = 31
"""Most days one usage call asks for."""
STARTS = {"location.usage_history_available", "location.service_active"}
ENDS = {"location.service_canceled"}

Sleep = Callable[[float], Awaitable[None]]


def complete_days(usage: LightUsage) -> dict[date, list[tuple[datetime, float]]]:
    """The days (UTC) of `usage` that have all 96 intervals, each in time order."""
    days: dict[date, dict[datetime, float]] = {}
    for start, kwh in usage.intervals:
        at = start.astimezone(UTC)
        days.setdefault(at.date(), {})[at] = kwh
    return {
        day: sorted(slots.items())
        for day, slots in sorted(days.items())
        if len(slots) == SLOTS_A_DAY
    }


def usage_record(
    location: UsageLocation, days: dict[date, list[tuple[datetime, float]]]
) -> EncodedRecord:
    """The `light.usage` record of some complete days; its id names them, so publishing them
    again repeats the same event."""
    first, last = min(days), max(days)
    body = {
        "locationUuid": location.location_uuid,
        "accountUuid": location.account_uuid,
        "intervalMinutes": 15,
        "intervals": [
            {"start": format_time(start), "kwh": kwh}
            for slots in days.values()
            for start, kwh in slots
        ],
    }
    return encode(
        CloudEvent(
            id=f"{location.location_uuid}:{first.isoformat()}:{last.isoformat()}",
            source=SOURCE,
            type=LIGHT_USAGE_FETCHED,
            time=datetime.now(UTC),
            key=location.location_uuid.encode(),
            data=orjson.dumps(body),
        )
    )


def _event(record: InboundRecord) -> tuple[str, str, str, date | None] | None:
    """A start or end event's type, account, location and service start date; None for the
    others."""
    try:
        document: Any = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError:
        raise InvalidRecord("Light event is not JSON") from None
    if not isinstance(document, dict) or document.get("type") not in STARTS | ENDS:
        return None
    data = document.get("data") or {}
    account = (data.get("account") or {}).get("uuid")
    location = data.get("location") or {}
    if not isinstance(account, str) or not isinstance(location.get("uuid"), str):
        raise InvalidRecord("Light location event lacks its account or location uuid")
    try:
        start = date.fromisoformat(str(location["service_start_date"]))
    except (KeyError, ValueError):
        start = None
    return str(document["type"]), account, str(location["uuid"]), start


class UsageFetcher(PartitionOwnedWork[UsageLocation]):
    """Admits locations from Light's events, then fetches each one's usage in its own task."""

    topic = topics.LIGHT_EVENTS
    noun = "usage locations"

    def __init__(
        self,
        locations: UsageLocations,
        light: LightUsageApi,
        publisher: Publisher,
        check_seconds: float,
        backoff_max: float,
        sleep: Sleep = asyncio.sleep,
        tenants: Registry | None = None,
    ) -> None:
        super().__init__()
        self._tenants = tenants
        self._locations = locations
        self._light = light
        self._publisher = publisher
        self._check = check_seconds
        self._backoff_max = backoff_max
        self._sleep = sleep

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        for record in records:
            try:
                event = _event(record)
            except InvalidRecord as error:
                counts.rejected.append((record, error))
                continue
            if event is None:
                counts.duplicates += 1  # not about usage: nothing to do
                continue
            kind, account, location_uuid, start = event
            location = await self._locations.admit(
                location_uuid,
                account,
                record.partition,
                start or datetime.now(UTC).date() - timedelta(days=MOST_DAYS),
                active=kind in STARTS,
            )
            counts.applied += 1
            self.drive(location)
        return counts

    async def unfinished(self, partitions: set[int] | None) -> list[UsageLocation]:
        return await self._locations.active(partitions)

    def drive(self, item: UsageLocation) -> None:
        if self._driving.running(item.location_uuid) is not None:
            return
        self._driving.start(
            item.location_uuid,
            item.partition,
            self._run(item.location_uuid),
            f"usage:{item.location_uuid}",
        )

    async def _run(self, location_uuid: str) -> None:
        act_for(location_uuid, self._tenants)  # its Light calls are its tenant's
        failures = 0
        while True:
            location = await self._locations.get(location_uuid)
            if location is None:
                return
            try:
                caught_up = await self.fetch_once(location)
                failures = 0
            except RetriableError as error:
                failures += 1
                log.warning(
                    "usage fetch failed; trying again",
                    extra={"fields": {"location": location_uuid, "error": str(error)}},
                )
                await self._sleep(backoff(self._backoff_max).delay(failures))
                continue
            except PartnerRefused as refused:
                log.warning(
                    "Light refused a usage fetch",
                    extra={"fields": {"location": location_uuid, "reason": refused.reason}},
                )
                caught_up = True
            if caught_up and not location.active:
                return
            if caught_up:
                await self._sleep(self._check)

    async def fetch_once(self, location: UsageLocation) -> bool:
        """Fetch, publish and record the next days Light has; whether nothing is left to ask
        for now."""
        first = location.fetched_through + timedelta(days=1)
        last = first + timedelta(days=MOST_DAYS - 1)
        usage = await self._light.usage(location.account_uuid, location.location_uuid, first, last)
        days = {day: slots for day, slots in complete_days(usage).items() if first <= day <= last}
        through = location.fetched_through
        while through + timedelta(days=1) in days:
            through += timedelta(days=1)
        published = {day: slots for day, slots in days.items() if day <= through}
        if not published:
            return True
        record = usage_record(location, published)
        await until_published(lambda: self._publisher.publish(topics.LIGHT_USAGE, record))
        await self._locations.fetched(location.location_uuid, through)
        log.info(
            "usage fetched",
            extra={"fields": {"location": location.location_uuid, "through": str(through)}},
        )
        return len(published) < MOST_DAYS
