"""The usage fetcher with Light and Kafka in memory: complete days only, in order, each once
recorded; a location stops once its service ended and it caught up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from consumers.usage import UsageFetcher
from gridhook.contract.codec import decode
from gridhook.contract.topics import LIGHT_EVENTS, LIGHT_USAGE
from gridhook.kafka.records import InboundRecord
from gridhook.partners.light import LightUsage
from gridhook.state.store import Store
from gridhook.state.usage_locations import UsageLocation, UsageLocations
from tests.support.fakes import InMemoryPublisher
from tests.support.waiting import eventually

START = date(2026, 12, 1)


@dataclass
class LightDays:
    """Light's usage in memory: every day before `today`, from `START`, 0.1 kWh a slot."""

    today: date
    calls: list[tuple[date, date]] = field(default_factory=list)

    async def usage(self, account: str, location: str, first: date, last: date) -> LightUsage:
        self.calls.append((first, last))
        intervals = []
        day = max(first, START)
        while day <= min(last, self.today - timedelta(days=1)):
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            intervals += [(midnight + timedelta(minutes=15 * n), 0.1) for n in range(96)]
            day += timedelta(days=1)
        return LightUsage(intervals, datetime.now(UTC))


def event(kind: str, partition: int = 0) -> InboundRecord:
    body = {
        "id": f"evt_{kind}",
        "type": kind,
        "data": {
            "account": {"uuid": "acct-1"},
            "location": {"uuid": "loc-1", "service_start_date": START.isoformat()},
        },
    }
    return InboundRecord(LIGHT_EVENTS, partition, 0, b"acct-1", orjson.dumps(body), (), 0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'state.db'}", writer=True)
    await opened.migrate()
    yield opened
    await opened.close()


async def test_complete_days_are_published_once_each_and_recorded(store: Store) -> None:
    """Light has Dec 1 to 4: one record with their 384 intervals; asked again the next day,
    one record with Dec 5 only."""
    light, publisher = LightDays(today=date(2026, 12, 5)), InMemoryPublisher()
    locations = UsageLocations(store)
    fetcher = UsageFetcher(locations, light, publisher, check_seconds=3600, backoff_max=1)
    await fetcher.handle([event("location.usage_history_available")])

    async def caught_up() -> UsageLocation | None:
        found = await locations.get("loc-1")
        return found if found and found.fetched_through == date(2026, 12, 4) else None

    found = await eventually(caught_up, 10, "the location's task to fetch Dec 1 to 4")
    assert found is not None
    location = found
    await fetcher.close()
    assert await fetcher.fetch_once(location) is True  # nothing new: caught up
    light.today = date(2026, 12, 6)
    assert await fetcher.fetch_once(location) is True
    documents = [orjson.loads(decode(r.key, r.value, r.headers).data) for _, r in publisher.records]
    assert {topic for topic, _ in publisher.records} == {LIGHT_USAGE}
    assert [len(d["intervals"]) for d in documents] == [384, 96]
    assert documents[-1]["intervals"][0]["start"].startswith("2026-12-05T00:00:00")
    final = await locations.get("loc-1")
    assert final is not None
    assert final.fetched_through == date(2026, 12, 5)


async def test_a_canceled_location_is_inactive_and_not_resumed(store: Store) -> None:
    """After `location.service_canceled` the location is not among those a new owner resumes."""
    locations = UsageLocations(store)
    fetcher = UsageFetcher(locations, LightDays(today=START), InMemoryPublisher(), 3600, 1)
    await fetcher.handle([event("location.usage_history_available")])
    await fetcher.handle([event("location.service_canceled")])
    await fetcher.close()
    assert await locations.active(None) == []
    other = await fetcher.handle([event("account.updated")])
    assert (other.applied, other.duplicates) == (0, 1)
