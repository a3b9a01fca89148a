"""Chaos for the measurements consumer on the three-broker cluster and PostgreSQL: reads of 30
meters, out of order and some twice, consumed by a replica SIGKILLed mid-batch and restarted,
then joined by a second replica (a rebalance). The stored intervals equal a clean run's (the
pure derivation over each meter's reads, which a single consumer's run equals), and no read's
energy is counted twice."""

from __future__ import annotations

import contextlib
import math
import random
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gridhook.contract.codec import CloudEvent, format_time
from gridhook.contract.event_types import POWERBOX_METER_READS
from gridhook.contract.settings import Settings
from gridhook.contract.topics import LIGHT_USAGE, METER_READS, WATTSHIFT_PRICE_SIGNALS
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.state.intervals import Read, derive, settle
from gridhook.state.measurements import HAN, Measurements
from gridhook.state.store import Store
from tests.support.kafka import all_end_offsets, commit_at_end, group_caught_up, publish_all
from tests.support.postgres import fresh_database
from tests.support.processes import gridhook_process
from tests.support.waiting import eventually

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
METERS, READS_EACH, PER_RECORD = 30, 240, 8


def meter_reads(seed: int) -> list[Read]:
    rng = random.Random(seed)
    delivered = received = 0
    reads = []
    for index in range(READS_EACH):
        delivered += rng.randint(50, 900)
        received += rng.randint(0, 200)
        reads.append(Read(T0 + index * 900.0, delivered, received, 1, 1000))
    return reads


def records(all_reads: dict[str, list[Read]], rng: random.Random) -> list[CloudEvent]:
    """Each meter's reads shuffled (late, out of order), a tenth sent twice, in records of 8."""
    events = []
    for meter, reads in all_reads.items():
        sent = reads + rng.sample(reads, len(reads) // 10)
        rng.shuffle(sent)
        for first in range(0, len(sent), PER_RECORD):
            document = {
                "meterId": meter,
                "deviceMac": "00:1B:C5:00:00:AA:BB:CC",
                "reads": [
                    {
                        "readAt": format_time(datetime.fromtimestamp(read.at, UTC)),
                        "summationDelivered": read.delivered,
                        "summationReceived": read.received,
                        "multiplier": 1,
                        "divisor": 1000,
                        "unitOfMeasure": 0,
                    }
                    for read in sent[first : first + PER_RECORD]
                ],
            }
            events.append(
                CloudEvent(
                    id=f"{meter}:{first}",
                    source="powerbox",
                    type=POWERBOX_METER_READS,
                    time=datetime.now(UTC),
                    key=meter.encode(),
                    data=orjson.dumps(document),
                )
            )
    return events


async def stored_reads(database: str) -> int:
    store = Store(database)
    try:
        async with store.connect() as connection:
            result = await connection.exec_driver_sql("SELECT count(*) FROM meter_reads")
            return int(result.scalar_one())
    finally:
        await store.close()


async def test_a_killed_and_rebalanced_measurements_consumer_counts_every_read_once(
    cluster: EmbeddedKafka,
    postgres_url: str,
    settings: Settings,
    tmp_path: Path,
    summary: list[dict[str, Any]],
) -> None:
    """SIGKILL mid-batch at a third of the reads, restart, a second replica at two thirds:
    every meter's stored intervals equal the derivation over its reads."""
    state = cluster.state()
    assert state is not None
    bootstrap = state.bootstrap
    database = await fresh_database(postgres_url)
    migrating = Store(database, writer=True)
    await migrating.migrate()
    await migrating.close()
    run = uuid.uuid4().hex[:6]
    all_reads = {f"chaos-{run}-{n}": meter_reads(n) for n in range(METERS)}
    group = f"chaos-measurements-{run}"
    topics = [METER_READS, LIGHT_USAGE, WATTSHIFT_PRICE_SIGNALS]
    await commit_at_end(bootstrap, group, topics)
    await publish_all(bootstrap, settings.kafka, METER_READS, records(all_reads, random.Random(9)))
    ends = await all_end_offsets(bootstrap, topics)
    total = METERS * READS_EACH
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "GRIDHOOK_LOG_FORMAT": "json",
        "GRIDHOOK_DATABASE_URL": database,
        "GRIDHOOK_CONSUMER_BATCH": "20",
    }
    arguments = ["consume", "measurements", "--group", group]

    async def reached(share: float) -> bool:
        return await stored_reads(database) >= total * share

    async with contextlib.AsyncExitStack() as processes:
        first = await processes.enter_async_context(
            gridhook_process(arguments, environment, tmp_path / "m1.log")
        )
        await eventually(lambda: reached(1 / 3), 120, "a third of the reads stored")
        first.send_signal(signal.SIGKILL)
        first.wait()
        await processes.enter_async_context(
            gridhook_process(arguments, environment, tmp_path / "m1-again.log")
        )
        await eventually(lambda: reached(2 / 3), 120, "two thirds of the reads stored")
        await processes.enter_async_context(
            gridhook_process(arguments, environment, tmp_path / "m2.log")
        )
        await eventually(lambda: group_caught_up(bootstrap, group, ends), 180, "the group done")
    assert await stored_reads(database) == total
    store = Store(database)
    measurements = Measurements(store)
    wrong = 0
    try:
        for meter, reads in all_reads.items():
            stored = await measurements.intervals(HAN, meter, 0, int(T0) + 4 * 86_400)
            clean = {start: settle(start, part) for start, part in derive(reads).items()}
            assert stored.keys() == clean.keys()
            for start, interval in clean.items():
                got = stored[start]
                same = (
                    got.quality == interval.quality
                    and math.isclose(got.imported, interval.imported, abs_tol=1e-9)
                    and math.isclose(got.exported, interval.exported, abs_tol=1e-9)
                )
                wrong += not same
            advance = (reads[-1].delivered - reads[0].delivered) / 1000
            assert math.isclose(sum(i.imported for i in stored.values()), advance, abs_tol=1e-6)
    finally:
        await store.close()
    summary.append(
        {
            "scenario": "measurements consumer SIGKILLed, then rebalanced",
            "load": f"{total} reads (+10% repeats)",
            "kills": "1 consumer",
            "acknowledged": total,
            "lost": total - await stored_reads(database),
            "duplicated": wrong,
        }
    )
    assert wrong == 0
