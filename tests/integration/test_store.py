"""The SQL store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.applier import StateApplier
from gridhook.contract.codec import CloudEvent, encode
from gridhook.contract.errors import ConfigError, StoreUnavailable
from gridhook.contract.identifiers import hem_profile_id
from gridhook.kafka.records import InboundRecord
from gridhook.state.facts import facts_to_json
from gridhook.state.kinds import LIGHT_ACCOUNT, POWERBOX_CUSTOMER, POWERBOX_METER
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.store import Store, database_url
from gridhook.state.transitions import RECONCILERS
from tests.support.bind_states import MAC, put_bind_states, put_bound
from tests.support.postgres import fresh_database
from tests.support.state_events import ACCOUNT, CLIENT, EXPECTED, METER, applications, history


def expected_snapshot() -> dict[tuple[str, str], Any]:
    return {key: facts_to_json(facts) for key, facts in EXPECTED.items()}


async def facts_snapshot(store: Store) -> dict[tuple[str, str], Any]:
    return {key: row["facts"] for key, row in (await store.snapshot()).items()}


async def test_applying_in_order_reaches_the_expected_state(store: Store) -> None:
    """One batch of the whole history gives the same state as the pure fold."""
    outcome = await store.apply(applications(history()), reconcilers=RECONCILERS)
    assert outcome.duplicates == 0
    assert await facts_snapshot(store) == expected_snapshot()


async def test_redelivered_events_change_nothing(store: Store) -> None:
    """Applying the same events again (another batch, or twice in one) counts duplicates only."""
    batch = applications(history())
    first = await store.apply(batch, reconcilers=RECONCILERS)
    before = await store.snapshot()
    again = await store.apply(batch + batch[:3], reconcilers=RECONCILERS)
    assert again.applied == 0
    assert again.duplicates == len(batch) + 3
    assert await store.snapshot() == before
    assert await store.applied_count() == first.applied


@pytest.mark.parametrize("seed", range(5))
async def test_shuffled_batches_reach_the_in_order_state(store: Store, seed: int) -> None:
    """Events split into random batches in random order, some repeated, end in the same state."""
    rng = random.Random(seed)
    events = history()
    shuffled = events + rng.sample(events, 5)
    rng.shuffle(shuffled)
    items = applications(shuffled)
    while items:
        size = rng.randint(1, 6)
        await store.apply(items[:size], reconcilers=RECONCILERS)
        items = items[size:]
    assert await facts_snapshot(store) == expected_snapshot()


async def test_lookups_by_alias_and_parent(store: Store) -> None:
    """A customer is found by hemProfileId; its meters are its children."""
    await store.apply(applications(history()), reconcilers=RECONCILERS)
    customer = await store.by_alias(POWERBOX_CUSTOMER, hem_profile_id(CLIENT))
    assert customer is not None
    assert customer.entity_id == CLIENT
    meters = await store.children(POWERBOX_METER, CLIENT)
    assert [meter.entity_id for meter in meters] == [METER]
    assert await store.entity(LIGHT_ACCOUNT, "nobody") is None


async def test_clear_empties_the_store(store: Store) -> None:
    await store.apply(applications(history()), reconcilers=RECONCILERS)
    await store.clear()
    assert await store.snapshot() == {}
    assert await store.applied_count() == 0
    assert (await store.apply(applications(history()), reconcilers=RECONCILERS)).duplicates == 0
    assert (await store.entity(LIGHT_ACCOUNT, ACCOUNT)) is not None


def test_database_urls_get_async_drivers() -> None:
    """Plain sqlite/postgresql URLs are accepted; other databases are a configuration error."""
    assert database_url("sqlite:///x.db").startswith("sqlite+aiosqlite:///")
    assert database_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    with pytest.raises(ConfigError, match="GRIDHOOK_DATABASE_URL"):
        database_url("mysql://h/db")


async def test_driver_statements_take_each_drivers_placeholders() -> None:
    """A statement written with `?` goes to aiosqlite as written and to asyncpg numbered."""
    sqlite_store = Store("sqlite:///:memory:")
    postgres_store = Store("postgresql://u:p@h/db")
    try:
        statement = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ?"
        assert sqlite_store.driver_sql(statement) == statement
        assert postgres_store.driver_sql(statement) == (
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $3"
        )
    finally:
        await sqlite_store.close()
        await postgres_store.close()


async def test_the_devices_of_a_batch_s_meters_are_read_in_one_statement(store: Store) -> None:
    """Each meter's device: the one it holds, the one its pending bind names, else None."""
    other = "00:1B:C5:00:00:AA:BB:DD"
    await put_bound(store, "m-bound", MAC)
    await put_bind_states(store, ["bind_pending"], "m-pending", other)
    devices = await MeterBinds(store).devices_of(["m-bound", "m-pending", "m-unknown"])
    assert devices == {"m-bound": MAC, "m-pending": other, "m-unknown": None}
    assert await MeterBinds(store).devices_of([]) == {}


@pytest.mark.postgres
async def test_a_copy_the_database_refuses_is_store_unavailable(postgres_url: str) -> None:
    """PostgreSQL's `COPY` (the applier's batches) fails as every statement does: the driver's
    error becomes the retriable `StoreUnavailable`, and nothing of the transaction stays."""
    store = Store(await fresh_database(postgres_url), writer=True)
    await store.migrate()
    applied = ("light:evt-1", "light.events", 0, 7, "2026-12-07T00:00:00.000000Z")
    columns = ("event_key", "topic", "partition", "offset", "applied_at")
    try:
        with pytest.raises(StoreUnavailable, match="UniqueViolationError"):
            async with store.begin() as connection:
                await store.copy_rows(connection, "applied_events", columns, [applied, applied])
        assert await store.applied_count() == 0
        async with store.begin() as connection:
            await store.copy_rows(connection, "applied_events", columns, [applied])
        assert await store.applied_count() == 1
    finally:
        await store.close()


async def test_forgotten_ids_let_a_redelivery_apply_again_and_change_nothing(
    store: Store,
) -> None:
    """Past the horizon an event's id is forgotten: redelivered, it counts as applied, and the
    state stays what it was (the merge is idempotent)."""
    batch = applications(history())
    await store.apply(batch, reconcilers=RECONCILERS)
    before = await store.snapshot()
    assert await store.forget_applied(datetime.now(UTC) + timedelta(days=1)) == len(batch)
    again = await store.apply(batch, reconcilers=RECONCILERS)
    assert (again.applied, again.duplicates) == (len(batch), 0)
    assert await store.snapshot() == before


async def test_processes_starting_together_all_migrate_one_new_sqlite_file(
    tmp_path: Path,
) -> None:
    """Stores that migrate the same new SQLite file at the same moment (as `make run`'s
    processes do) all succeed: none gives up with "database is locked"."""
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'state-{attempt}.db'}"
        stores = [Store(url) for _ in range(6)]
        try:
            versions = await asyncio.gather(*(store.migrate() for store in stores))
        finally:
            for store in stores:
                await store.close()
        assert len(set(versions)) == 1


def _erasure_records(account: str) -> tuple[InboundRecord, InboundRecord]:
    """A person of `account` recorded at 10:00 (gridhook.people) and the account reported
    deleted at 11:00 (bright.events): two topics, so either may be read first."""
    person = {
        "personId": "person-1",
        "accountId": account,
        "role": "owner",
        "sealed": {"name": "v1:c2VhbGVk"},
        "indexes": {"email": "a" * 64},
        "occurredAt": "2026-12-06T10:00:00.000000Z",
    }
    deleted = {"type": "accountDeleted", "accountId": account, "eventId": "bright-1"}
    made = []
    for topic, source, kind, hour, body in (
        ("gridhook.people", "gridhook-people", "gridhook.person.updated", 10, person),
        ("bright.events", "bright", "accountDeleted", 11, deleted),
    ):
        event = CloudEvent(
            f"{source}-{hour}",
            source,
            kind,
            datetime(2026, 12, 6, hour, tzinfo=UTC),
            account.encode(),
            orjson.dumps(body),
        )
        encoded = encode(event)
        made.append(
            InboundRecord(topic, 0, hour, encoded.key, encoded.value, tuple(encoded.headers), 0)
        )
    return made[0], made[1]


async def test_an_erasure_read_before_its_person_gives_the_same_state(store: Store) -> None:
    """Whether the applier reads the person's record or the account's erasure first (two
    topics), the person ends erased the same way, as `state rebuild` must reproduce."""
    person, erasure = _erasure_records("acct-erased")
    applier = StateApplier(store)
    await applier.handle([person])
    await applier.handle([erasure])
    in_time_order = await store.snapshot()
    await store.clear()
    await applier.handle([erasure])
    await applier.handle([person])
    assert await store.snapshot() == in_time_order
    erased = in_time_order[("person", "person-1")]["facts"]
    assert (erased["erased"]["value"], erased["sealed"]["value"]) == (True, {})
