"""`POST /v1/powerbox/readings`: the meter reads a utility's head-end forwards from the HAN
devices bound to its meters, up to 1,000 a batch, authenticated as PowerBox is (bearer JWT).

One request, one validation, one round of publishes: the batch is checked against
`schemas/powerbox/readings.json` (400, no body, as PowerBox answers, when it does not match),
its reads grouped by meter and device, and each group published as one record on
`powerbox.meter-reads` keyed by the meter (so one meter's reads keep their order); the answer,
200 `{"accepted": n, "deadLettered": m}`, comes once Kafka has every record.

A group whose device is not the one bound to its meter (the meter holds no device, or
another one) is **dead-lettered**, to `powerbox.meter-reads.dlq` with the reason, rather than
refused: one batch carries many meters, and refusing it for one would hold back the others'
reads (the head-end would retry them all, or drop them all). The dead letters wait for an
operator, who re-drives them (`gridhook replay powerbox.meter-reads --dlq`) once the cause is
fixed, such as a bind gridhook had not recorded yet. A meter whose bind of that device is
still pending is taken: the head-end reads from a device as soon as it has joined, a moment
before the forwarder hears of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gridhook.contract import topics, tracing
from gridhook.contract.codec import TENANT_HEADER, CloudEvent, EncodedRecord, encode, parse_time
from gridhook.contract.errors import (
    GridhookError,
    MalformedJson,
    Refusal,
    SchemaViolation,
    UnsupportedMediaType,
    Violation,
)
from gridhook.contract.event_types import POWERBOX_METER_READS
from gridhook.contract.identifiers import content_hash
from gridhook.state.binds import same_device
from gridhook.state.meter_binds import MeterBinds
from service.ingress import keys
from service.ingress.pipeline import is_json, read_body, unavailable
from service.ingress.problems import POWERBOX
from service.ingress.tenancy import READINGS, TenantAuthenticator
from service.ingress.validation import SingleSchema

PATH = "/v1/powerbox/readings"
SCHEMA = "powerbox/readings.json"
SOURCE = "powerbox"
NO_DEVICE = "the meter holds no device"
OTHER_DEVICE = "the reads come from another device than the one bound to the meter"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reason_for(device: str | None, mac: str) -> str | None:
    """Why a group of reads from device `mac` is not taken for a meter that holds (or is
    joining) `device` now, or None."""
    if device is None:
        return NO_DEVICE
    return None if same_device(device, mac) else OTHER_DEVICE


def make_handler(authenticator: TenantAuthenticator) -> Handler:
    """The handler of the readings route."""
    schema = SingleSchema(SCHEMA, POWERBOX_METER_READS)

    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        metrics = app[keys.METRICS]
        status = 500
        try:
            if app[keys.SHEDDING].full():
                metrics.child(metrics.shed, SOURCE).inc()
                raise unavailable("too many requests in flight")
            answer = await _accept(request, authenticator, schema)
            status = answer.status
            return answer
        except Refusal as refusal:  # rendered by the middleware, in PowerBox's style
            status = POWERBOX.status_of(type(refusal))
            raise
        finally:
            metrics.child(metrics.requests, SOURCE, POWERBOX_METER_READS, str(status)).inc()

    return handle


async def _accept(
    request: web.Request, authenticator: TenantAuthenticator, schema: SingleSchema
) -> web.Response:
    app = request.app
    settings = app[keys.SETTINGS]
    if not is_json(request):
        raise UnsupportedMediaType("send application/json")
    tenant = authenticator.tenant_of(request)
    app[keys.LIMITS].admit(tenant)  # before the body is read
    body = await read_body(request, settings.http.max_body_bytes)
    now = app[keys.CLOCK]()
    await authenticator.authenticate(request.headers, body, now, tenant)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedJson("the body is not valid JSON") from None
    # No depth walk (`check_depth`) here: orjson refuses more than 1,024 levels, and the
    # schema (reads of flat objects) fails a deeper batch at its third level.
    schema.check(document)
    READINGS(document, tenant, app[keys.TENANTS].current)
    groups = _groups(document["reads"])
    try:
        bound = await MeterBinds(app[keys.STORE]).devices_of(sorted({m for m, _ in groups}))
    except GridhookError:
        raise unavailable("the state store is not reachable") from None
    trace = tracing.passed_through(request.headers)
    records: list[tuple[str, EncodedRecord]] = []
    taken = dead = 0
    for (meter_id, mac), reads in groups.items():
        reason = reason_for(bound[meter_id], mac)
        record = _record(meter_id, mac, reads, now, [*trace, (TENANT_HEADER, tenant.encode())])
        if reason is None:
            records.append((topics.METER_READS, record))
            taken += len(reads)
        else:
            records.append((topics.METER_READS + topics.DLQ_SUFFIX, _dead(record, reason)))
            dead += len(reads)
    await _publish_all(app, records)
    metrics = app[keys.METRICS]
    metrics.child(metrics.meter_reads, "accepted").inc(taken)
    metrics.child(metrics.meter_reads, "dead_lettered").inc(dead)
    payload = {"accepted": taken, "deadLettered": dead}
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


def _groups(reads: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The reads by meter and device, each without those two fields; a `readAt` that is not
    a time is a violation (400)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    violations = []
    for index, read in enumerate(reads):
        try:
            parse_time(read["readAt"])
        except ValueError:
            violations.append(Violation(f"/reads/{index}/readAt", "is not a valid date-time"))
            continue
        key = (read["meterId"], read["deviceMac"])
        groups.setdefault(key, []).append(
            {name: value for name, value in read.items() if name not in ("meterId", "deviceMac")}
        )
    if violations:
        raise SchemaViolation(tuple(violations))
    return groups


def _record(
    meter_id: str,
    mac: str,
    reads: list[dict[str, Any]],
    now: float,
    trace: list[tuple[str, bytes]],
) -> EncodedRecord:
    """One meter's reads as a record; its id hashes its content, so a batch sent again makes
    the same events."""
    document = {"meterId": meter_id, "deviceMac": mac, "reads": reads}
    return encode(
        CloudEvent(
            id=f"{meter_id}:{content_hash(document)}",
            source=SOURCE,
            type=POWERBOX_METER_READS,
            time=datetime.fromtimestamp(now, UTC),
            key=meter_id.encode(),
            data=orjson.dumps(document),
            extensions=tuple(trace),
        )
    )


def _dead(record: EncodedRecord, reason: str) -> EncodedRecord:
    """`record` as a dead letter of `powerbox.meter-reads`: `gridhook replay --dlq` sends it
    there."""
    headers = [
        *record.headers,
        ("dlq_topic", topics.METER_READS.encode()),
        ("dlq_error_class", b"UnboundDevice"),
        ("dlq_error_message", reason.encode()),
    ]
    return EncodedRecord(record.key, record.value, headers)


async def _publish_all(app: web.Application, records: list[tuple[str, EncodedRecord]]) -> None:
    """Hand every record to Kafka and wait for every acknowledgement; 503 past the publish
    timeout."""
    publisher = app[keys.PUBLISHER]
    timeout = app[keys.SETTINGS].http.publish_timeout
    shedding = app[keys.SHEDDING]
    shedding.taken += 1
    started = time.perf_counter()
    try:
        by_topic: dict[str, list[EncodedRecord]] = {}
        for topic, record in records:
            by_topic.setdefault(topic, []).append(record)
        async with asyncio.timeout(timeout):
            # In per-partition batches: one append per record, one send per partition.
            await asyncio.gather(
                *(publisher.send_many(topic, batch) for topic, batch in by_topic.items())
            )
    except TimeoutError:
        raise unavailable("Kafka did not acknowledge in time") from None
    except GridhookError:
        raise unavailable("Kafka is not available") from None
    finally:
        shedding.taken -= 1
    metrics = app[keys.METRICS]
    metrics.child(metrics.publish_seconds, topics.METER_READS).observe(
        time.perf_counter() - started
    )
