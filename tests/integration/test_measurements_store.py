"""The measurements store, on SQLite and on PostgreSQL: batches of reads in any order, with
any repeats, and the process's read cache lost at any point, store the intervals the pure
core derives from the set of reads."""

from __future__ import annotations

import math
import random

import pytest

from gridhook.contract.errors import StoreUnavailable
from gridhook.state.cost import PriceSpan
from gridhook.state.intervals import INTERVAL_SECONDS, Interval, Read, derive, settle
from gridhook.state.measurements import HAN, INTERVALS_QUERY, LIGHT, Batch, Measurements
from gridhook.state.series import chosen
from gridhook.state.store import Store

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400


def meter_reads(count: int, every: float = 300.0, seed: int = 1) -> list[Read]:
    rng = random.Random(seed)
    delivered = received = 0
    reads = []
    for index in range(count):
        delivered += rng.randint(0, 400)
        received += rng.randint(0, 50)
        reads.append(Read(T0 + index * every, delivered, received))
    return reads


def expected(reads: list[Read]) -> dict[int, Interval]:
    return {start: settle(start, part) for start, part in derive(reads).items()}


def assert_same(stored: dict[int, Interval], wanted: dict[int, Interval]) -> None:
    assert stored.keys() == wanted.keys()
    for start, interval in wanted.items():
        got = stored[start]
        assert got.quality == interval.quality, start
        assert math.isclose(got.imported, interval.imported, abs_tol=1e-9), start
        assert math.isclose(got.exported, interval.exported, abs_tol=1e-9), start


async def test_shuffled_repeated_batches_with_lost_caches_store_the_derived_intervals(
    store: Store,
) -> None:
    """Three meters' reads, shuffled, some twice, in batches of 40, the cache cleared now and
    then (a restart, a rebalance): what is stored equals `derive` over each meter's reads."""
    rng = random.Random(7)
    all_reads = {f"m{n}": meter_reads(150, seed=n) for n in range(3)}
    sent = [(meter, read) for meter, reads in all_reads.items() for read in reads]
    sent += rng.sample(sent, 60)
    rng.shuffle(sent)
    measurements = Measurements(store)
    for first in range(0, len(sent), 40):
        batch = Batch()
        for meter, read in sent[first : first + 40]:
            batch.reads.setdefault(meter, []).append(read)
        await measurements.apply(batch)
        if rng.random() < 0.3:
            measurements.tails.clear()
    for meter, reads in all_reads.items():
        stored = await measurements.intervals(HAN, meter, T0 - DAY, T0 + DAY)
        assert_same(stored, expected(reads))
        assert await measurements.reads_of(meter) == reads


async def test_a_batch_applied_twice_counts_nothing_twice(store: Store) -> None:
    """The same batch again, by a process that lost its cache (a redelivery after a crash):
    every read is known, no interval changes."""
    reads = meter_reads(20)
    first = await Measurements(store).apply(Batch(reads={"m": reads}))
    again = await Measurements(store).apply(Batch(reads={"m": reads}))
    assert (first.new_reads, first.known_reads) == (20, 0)
    assert (again.new_reads, again.known_reads, again.intervals) == (0, 20, 0)
    stored = await Measurements(store).intervals(HAN, "m", T0, T0 + DAY)
    assert_same(stored, expected(reads))


async def test_a_racing_writer_fails_rather_than_counting_twice(store: Store) -> None:
    """Two processes holding stale caches of one meter (a partition that moved): the second
    to write a read the first stored fails, and retried on a fresh view changes nothing."""
    reads = meter_reads(10)
    old_owner, new_owner = Measurements(store), Measurements(store)
    await old_owner.apply(Batch(reads={"m": reads[:5]}))
    await new_owner.apply(Batch(reads={"m": reads[:5]}))  # loads: all known
    await old_owner.apply(Batch(reads={"m": reads[5:]}))
    with pytest.raises(StoreUnavailable):
        await new_owner.apply(Batch(reads={"m": reads[5:]}))
    retried = await new_owner.apply(Batch(reads={"m": reads[5:]}))
    assert retried.new_reads == 0
    assert_same(await new_owner.intervals(HAN, "m", T0, T0 + DAY), expected(reads))


async def test_a_late_read_far_behind_the_cache_is_loaded_and_placed(store: Store) -> None:
    """A read three days older than the meter's latest (beyond what the cache keeps) splits
    the span it falls in, as the pure core does."""
    reads = [Read(T0 + hours * 3600.0, hours * 500, 0) for hours in range(0, 120, 2)]
    late = reads.pop(10)
    measurements = Measurements(store)
    await measurements.apply(Batch(reads={"m": reads}))
    applied = await measurements.apply(Batch(reads={"m": [late]}))
    assert applied.lateness == [reads[-1].at - late.at]
    stored = await measurements.intervals(HAN, "m", T0, T0 + 6 * DAY)
    assert_same(stored, expected([*reads, late]))


async def test_light_usage_and_prices_replace_what_they_cover(store: Store) -> None:
    """Usage fetched again replaces its intervals; a price span sent again replaces its
    prices."""
    measurements = Measurements(store)
    await measurements.apply(
        Batch(
            usage={"loc": {T0: 0.5, T0 + INTERVAL_SECONDS: 0.25}},
            prices={"home": [PriceSpan(T0, T0 + 3600, 0.1, 0.05)]},
        )
    )
    await measurements.apply(
        Batch(usage={"loc": {T0: 0.75}}, prices={"home": [PriceSpan(T0, T0 + 7200, 0.2, 0.0)]})
    )
    stored = await measurements.intervals(LIGHT, "loc", T0, T0 + DAY)
    assert [(i.start, i.imported, i.quality.value) for i in stored.values()] == [
        (T0, 0.75, "actual"),
        (T0 + INTERVAL_SECONDS, 0.25, "actual"),
    ]
    assert await measurements.prices("home", T0, T0 + DAY) == [PriceSpan(T0, T0 + 7200, 0.2, 0.0)]


async def test_retention_deletes_what_is_older(store: Store) -> None:
    """Reads, intervals and prices before the cutoff go; later ones stay."""
    reads = meter_reads(24, every=3600.0)
    measurements = Measurements(store)
    await measurements.apply(
        Batch(reads={"m": reads}, prices={"h": [PriceSpan(T0, T0 + 3600, 0.1, 0.0)]})
    )
    await measurements.forget_before(T0 + 12 * 3600)
    assert min(await measurements.intervals(HAN, "m", 0, T0 + DAY)) == T0 + 12 * 3600
    assert [read.at for read in await measurements.reads_of("m")] == [r.at for r in reads[12:]]
    assert await measurements.prices("h", 0, T0 + DAY) == []


async def test_installations_applied_before_v8_are_linked_by_the_migration(store: Store) -> None:
    """An installation the applier stored before it linked meters and locations (no alias,
    no `installation` fact on the location) is found by its meter and location after v9."""
    from sqlalchemy import delete as sql_delete

    from gridhook.state.services import service_at, service_of_meter
    from gridhook.state.tables import entities, schema_version

    def fact(value: object) -> dict[str, object]:
        return {"value": value, "at": "2026-01-01T00:00:00.000000Z", "event_id": "e", "seq": 1}

    facts = {
        "document": fact({"installationId": "inst-old", "meterId": "m-old"}),
        "step:e2": fact({"step": "plan_accepted", "status": "plan_accepted", "reason": None,
                         "detail": {"locationUuid": "loc-old", "planUuid": "p"}}),
    }  # fmt: skip
    async with store.begin() as connection:
        await connection.execute(
            entities.insert().values(
                kind="gridhook.installation", entity_id="inst-old", parent_id=None, alias=None,
                facts=facts, updated_at="2026-01-01T00:00:00Z",
            )
        )  # fmt: skip
        await connection.execute(sql_delete(schema_version).where(schema_version.c.version == 9))
    await store.migrate()
    by_meter = await service_of_meter(store, "m-old")
    by_location = await service_at(store, "loc-old")
    assert by_meter is not None
    assert by_location is not None
    assert by_meter.installation_id == by_location.installation_id == "inst-old"
    assert by_location.location_uuid == "loc-old"


async def test_a_read_of_several_series_returns_each_ones_range_by_its_key(store: Store) -> None:
    """Each series gets its own intervals in the range, none of another series or outside it;
    on SQLite the read searches the primary key, not the start index across every series."""
    measurements = Measurements(store)
    usage = {f"loc{n}": {T0 + k * INTERVAL_SECONDS: n + k / 10 for k in range(8)} for n in range(3)}
    await measurements.apply(Batch(usage=usage))
    await measurements.apply(Batch(reads={"loc0": meter_reads(4, every=900.0)}))
    found = await measurements.intervals_of(
        {LIGHT: "loc1", HAN: "loc0"}, T0 + INTERVAL_SECONDS, T0 + 4 * INTERVAL_SECONDS
    )
    assert list(found) == [LIGHT, HAN]
    assert {start: interval.imported for start, interval in found[LIGHT].items()} == {
        T0 + k * INTERVAL_SECONDS: 1 + k / 10 for k in range(1, 4)
    }
    assert sorted(found[HAN]) == [T0 + INTERVAL_SECONDS, T0 + 2 * INTERVAL_SECONDS]
    if store.is_sqlite:
        async with store.connect() as connection:
            plan = await connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {INTERVALS_QUERY}", (LIGHT, "loc1", T0, T0 + DAY)
            )
            (step,) = [row[-1] for row in plan]
        assert "measurement_intervals_by_start" not in step
        assert "(source=? AND series=? AND start>? AND start<?)" in step


async def test_best_of_reads_less_and_chooses_as_every_source_read_whole(store: Store) -> None:
    """Light's usage is read only where the HAN has no actual interval, and the best choice
    from it is the choice from both sources read whole: gaps, a late start and estimates
    included."""
    measurements = Measurements(store)
    reads = [Read(T0 + n * 900.0, n * 300, 0) for n in range(49) if not 10 < n < 20 and n != 30]
    usage = {T0 + n * INTERVAL_SECONDS: 0.1 + n / 100 for n in range(48)}
    await measurements.apply(Batch(reads={"meter": reads}, usage={"loc": usage}))
    sources = {HAN: "meter", LIGHT: "loc"}
    end = T0 + 48 * INTERVAL_SECONDS
    whole = await measurements.intervals_of(sources, T0, end)
    best = await measurements.best_of(sources, T0, end)
    assert chosen(best, T0, end) == chosen(whole, T0, end)
    assert len(best[LIGHT]) < len(whole[LIGHT])
    assert [s.source for s in chosen(best, T0, end)].count(LIGHT) > 0
    late = T0 - 2 * INTERVAL_SECONDS  # before the first read: Light's usage read from there
    assert chosen(await measurements.best_of(sources, late, end), late, end) == chosen(
        await measurements.intervals_of(sources, late, end), late, end
    )
    complete = {HAN: "meter"}
    assert await measurements.best_of(complete, T0 + 3 * 900, T0 + 10 * 900) == (
        await measurements.intervals_of(complete, T0 + 3 * 900, T0 + 10 * 900)
    )
