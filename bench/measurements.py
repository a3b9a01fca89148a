"""The measurements benchmarks (`make bench`, or `python -m bench measurements` for these only):

- **Readings through the ingress**: batches of 500 reads of bound meters, POSTed to
  `/v1/powerbox/readings` with a bearer JWT by 8 concurrent clients for 15 s; reads per second
  answered 200 (each batch validated once, and published once per meter, before its answer),
  and the ingress's CPU per read.
- **Reads to intervals**: 200,000 reads of 1,000 meters in records of 4 (as the ingress
  groups a batch's reads by meter), published to `powerbox.meter-reads`; a measurements
  consumer process in a fresh group from their start to their end, on SQLite and on
  PostgreSQL: reads per second.
- **A month read back**: one service's month at 15 minutes (2,880 intervals from each source)
  through `GET /v1/services/{id}/measurements` and `/cost`, 200 times each, one at a time:
  p50 and p99.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.processes import answering, consumed, cpu_seconds, gridhook
from bench.rows import MONTH_ROWS, SHARED_CORES, Row
from gridhook.contract.codec import CloudEvent, encode, format_time
from gridhook.contract.event_types import POWERBOX_METER_READS
from gridhook.contract.settings import Settings
from gridhook.contract.topics import LIGHT_USAGE, METER_READS, WATTSHIFT_PRICE_SIGNALS
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.store import Store
from tests.support.bind_states import MAC, put_bound
from tests.support.kafka import all_end_offsets, commit_at_end
from tests.support.measured_service import LOCATION, seed_service
from tests.support.processes import free_port
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks

INGRESS_SECONDS = 15
CLIENTS = 8
BATCH = 500
METERS = 1_000
READS = 200_000
PER_RECORD = 4
MONTH_REQUESTS = 200
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
ADMIN = "bench-admin-token-0123456789"


def _read(at: float, wh: int) -> dict[str, Any]:
    return {
        "readAt": format_time(datetime.fromtimestamp(at, UTC)),
        "summationDelivered": wh,
        "summationReceived": 0,
        "instantaneousDemand": 500,
        "multiplier": 1,
        "divisor": 1000,
        "unitOfMeasure": 0,
    }


# -- readings through the ingress ----------------------------------------------------------


async def _bind_meters(url: str) -> list[str]:
    store = Store(url, writer=True)
    await store.migrate()
    meters = [f"bench-meter-{n}" for n in range(METERS)]
    try:
        for meter in meters:
            await put_bound(store, meter, MAC)
    finally:
        await store.close()
    return meters


async def _post_batches(base: str, meters: list[str], token: str, seconds: float) -> dict[str, Any]:
    """CLIENTS loops POSTing batches of BATCH reads until `seconds` pass."""
    accepted = errors = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal accepted, errors
        rng, tick = random.Random(number), 0
        while time.monotonic() < deadline:
            tick += 1
            at = T0 + (number * 1_000_000 + tick) * 900.0
            reads = [
                {"meterId": meter, "deviceMac": MAC, **_read(at, tick * 100)}
                for meter in rng.sample(meters, BATCH)
            ]
            url = f"{base}/v1/powerbox/readings"
            async with session.post(url, data=orjson.dumps({"reads": reads}), headers=headers) as r:
                if r.status == 200:
                    accepted += (await r.json())["accepted"]
                else:
                    errors += 1

    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(n, session) for n in range(CLIENTS)))
    return {"reads": accepted, "errors": errors, "seconds": time.monotonic() - started}


def ingress_readings(bootstrap: str, workdir: Path) -> dict[str, Any]:
    """Reads per second through the ingress, in batches of 500, and its CPU per read."""
    url = f"sqlite:///{workdir / 'readings.db'}"
    meters = asyncio.run(_bind_meters(url))
    key = ec_key()
    jwks = workdir / "readings-jwks.json"
    write_jwks(jwks, key)
    port = free_port()
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_DATABASE_URL": url,
        "GRIDHOOK_POWERBOX_JWKS": str(jwks),
        "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
        "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
        "GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT": "0",
    }
    base = f"http://127.0.0.1:{port}"
    token = key.token(exp=int(time.time()) + 3600)
    with gridhook(["ingress"], environment) as process:
        asyncio.run(answering(f"{base}/readyz"))
        asyncio.run(_post_batches(base, meters, token, 2))  # warm-up
        before = cpu_seconds(process.pid)
        run = asyncio.run(_post_batches(base, meters, token, INGRESS_SECONDS))
        used = cpu_seconds(process.pid) - before
    return {
        **run,
        "reads_per_second": run["reads"] / run["seconds"],
        "server_cpu_us_per_read": 1e6 * used / max(run["reads"], 1),
        "batch": BATCH,
        "clients": CLIENTS,
    }


# -- reads to intervals --------------------------------------------------------------------


async def publish_reads(bootstrap: str, settings: Settings) -> str:
    """READS reads of METERS meters, each meter's in time order, in records of PER_RECORD;
    the prefix of this run's meter ids."""
    publisher = KafkaPublisher(settings.kafka, bootstrap)
    await publisher.start()
    rng = random.Random(11)
    run = f"bench-{uuid.uuid4().hex[:6]}"
    registers = [0] * METERS
    pending: list[asyncio.Future[Any]] = []
    try:
        for first in range(0, READS // METERS, PER_RECORD):
            for meter in range(METERS):
                reads = []
                for index in range(first, first + PER_RECORD):
                    registers[meter] += rng.randint(20, 600)
                    reads.append(_read(T0 + index * 900.0, registers[meter]))
                name = f"{run}-{meter}"
                document = {"meterId": name, "deviceMac": MAC, "reads": reads}
                event = CloudEvent(
                    f"{name}:{first}", "powerbox", POWERBOX_METER_READS, datetime.now(UTC),
                    name.encode(), orjson.dumps(document),
                )  # fmt: skip
                pending.append(await publisher.send(METER_READS, encode(event)))
                if len(pending) >= 5000:
                    await asyncio.gather(*pending)
                    pending.clear()
        await asyncio.gather(*pending)
    finally:
        await publisher.stop()
    return run


async def reads_to_intervals(bootstrap: str, url: str, starts: Any) -> dict[str, Any]:
    """A fresh measurements group from `starts` (where this run's reads begin) to the end:
    reads per second until it caught up."""
    store = Store(url, writer=True)
    await store.migrate()
    await store.close()
    group = f"bench-measurements-{uuid.uuid4().hex[:6]}"
    topics = [METER_READS, LIGHT_USAGE, WATTSHIFT_PRICE_SIGNALS]
    await commit_at_end(bootstrap, group, topics)
    from tests.support.kafka import commit_offsets

    await commit_offsets(bootstrap, group, starts)
    ends = await all_end_offsets(bootstrap, topics)
    environment = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "GRIDHOOK_DATABASE_URL": url}
    elapsed = await consumed(bootstrap, "measurements", group, ends, environment)
    return {"reads": READS, "seconds": elapsed, "reads_per_second": READS / elapsed}


# -- a month read back ---------------------------------------------------------------------


async def _seed_month(url: str) -> None:
    store = Store(url, writer=True)
    await store.migrate()
    try:
        await seed_service(store, T0, 30, date(2025, 12, 15))
    finally:
        await store.close()


async def _time_reads(base: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    query = "from=2026-01-01&to=2026-01-31"
    found: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for kind in ("measurements", "cost"):
            url = f"{base}/v1/services/{LOCATION}/{kind}?{query}"
            times = []
            for _ in range(MONTH_REQUESTS + 10):
                started = time.perf_counter()
                async with session.get(url, headers=headers) as reply:
                    body = await reply.read()
                    assert reply.status == 200, reply.status
                times.append(1000 * (time.perf_counter() - started))
            intervals = len(orjson.loads(body)["intervals"])
            times = sorted(times[10:])  # the first ones warm the caches
            found[kind] = {
                "intervals": intervals,
                "p50_ms": times[len(times) // 2],
                "p99_ms": times[int(0.99 * len(times))],
            }
    return found


def month_read(bootstrap: str, url: str) -> dict[str, Any]:
    """p50 and p99 of one service's month read through the ingress."""
    asyncio.run(_seed_month(url))
    port = free_port()
    environment = {
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_DATABASE_URL": url,
        "GRIDHOOK_ADMIN_TOKEN": ADMIN,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
    }
    base = f"http://127.0.0.1:{port}"
    with gridhook(["ingress"], environment):
        asyncio.run(answering(f"{base}/healthz"))
        return asyncio.run(_time_reads(base))


# -- the section of `make bench` -----------------------------------------------------------


def run(bootstrap: str, settings: Settings, workdir: Path) -> dict[str, Any]:
    """Every measurements benchmark, on SQLite and (when installed) PostgreSQL."""
    from tests.support.kafka import all_end_offsets as ends_of
    from tests.support.postgres import available as postgres_available
    from tests.support.postgres import postgres_server

    found: dict[str, Any] = {"ingress": ingress_readings(bootstrap, workdir)}
    starts = asyncio.run(ends_of(bootstrap, [METER_READS]))
    asyncio.run(publish_reads(bootstrap, settings))
    found["intervals"] = {
        "sqlite": asyncio.run(
            reads_to_intervals(bootstrap, f"sqlite:///{workdir / 'intervals.db'}", starts)
        )
    }
    found["month"] = {"sqlite": month_read(bootstrap, f"sqlite:///{workdir / 'month.db'}")}
    if postgres_available():
        with postgres_server() as url:
            found["intervals"]["postgresql"] = asyncio.run(
                reads_to_intervals(bootstrap, url, starts)
            )
        with postgres_server() as url:
            found["month"]["postgresql"] = month_read(bootstrap, url)
    return found


def rows(found: dict[str, Any]) -> list[Row]:
    """The table's rows for `run`'s results."""
    ingress = found["ingress"]
    table = [
        Row(
            f"Readings through the ingress (batches of {ingress['batch']}, "
            f"{ingress['clients']} clients)",
            f"{ingress['reads_per_second']:,.0f} reads/s, {ingress['errors']} errors; "
            f"{ingress['server_cpu_us_per_read']:.1f} us CPU/read",
            ">= 20,000/s",
            ingress["reads_per_second"] >= 20_000 and ingress["errors"] == 0,
            SHARED_CORES,
        )
    ]
    for backend, result in found["intervals"].items():
        table.append(
            Row(
                f"Reads to intervals ({backend}, {result['reads']:,} reads)",
                f"{result['reads_per_second']:,.0f} reads/s",
                ">= 20,000/s",
                result["reads_per_second"] >= 20_000,
                SHARED_CORES,
            )
        )
    for backend, result in found["month"].items():
        for kind in ("measurements", "cost"):
            figures = result[kind]
            table.append(
                Row(
                    f"A month's {kind} read back ({backend}, {figures['intervals']:,} intervals)",
                    f"p50 {figures['p50_ms']:.1f} / p99 {figures['p99_ms']:.1f} ms",
                    "p99 < 50 ms",
                    figures["p99_ms"] < 50,
                    MONTH_ROWS,
                )
            )
    return table
