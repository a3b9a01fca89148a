"""The ingress pipeline's steps one by one (`make bench`, or `python -m bench steps` alone).

Where the CPU a Light webhook costs gridhook goes, above what the bare `send_and_wait` handler
costs (aiohttp and aiokafka): each step of `service.ingress.pipeline` timed alone, in this
process, over the load generator's kind of bodies (every Light event type, 0.5-2 KB, signed
with the Standard Webhooks scheme, each with its own id). No I/O: the deduplication publishes
to an already acknowledged future (whose callbacks, remembering the id, run as the loop turns),
the metrics count into their own registry; on uvloop with the collector tuned, as the ingress
runs. What the steps
do not add up to is the asynchronous plumbing between them (coroutines, futures, the timeout,
the response object), which only the whole request measures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from multidict import CIMultiDict

from bench.rows import Row
from gridhook.contract import tracing
from gridhook.contract.codec import TENANT_HEADER, CloudEvent, encode
from gridhook.contract.event_types import LIGHT_EVENT_TYPES
from gridhook.contract.settings import Settings
from gridhook.contract.tenants import DEFAULT, Registry
from service.ingress import sources
from service.ingress.dedup import Deduplicator
from service.ingress.metrics import IngressMetrics
from service.ingress.tenancy import Limits
from service.ingress.validation import check_depth
from tests.support.light_payloads import SECRET, light_event, signed

Headers = CIMultiDict[str]
ROUNDS = 20_000
BODIES = 200


async def run() -> dict[str, float]:
    """Microseconds per call of each step, in pipeline order."""
    settings = Settings.from_env({"GRIDHOOK_LIGHT_SECRETS": SECRET})
    registry = Registry(settings)
    light = sources.light(settings, registry)
    now = time.time()
    rng = random.Random(7)
    requests = []
    for n in range(BODIES):
        event = light_event(LIGHT_EVENT_TYPES[n % len(LIGHT_EVENT_TYPES)], rng=rng)
        body, headers = signed(event, now=now, message_id=f"msg_bench_{n}")
        requests.append((body, CIMultiDict(headers), orjson.loads(body)))
    verified = await light.authenticator.authenticate(requests[0][1], requests[0][0], now)
    metrics = IngressMetrics()
    limits = Limits(registry)
    acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    acknowledged.set_result(None)

    async def send() -> asyncio.Future[None]:
        return acknowledged

    deduplicator = Deduplicator[None](window=3600, max_ids=100_000)
    ids = iter(range(10 * ROUNDS))
    moment = datetime.fromtimestamp(now, UTC)
    scope = light.scope
    assert scope is not None

    def parse(body: bytes, headers: Headers, document: Any) -> object:
        return orjson.loads(body)

    def depth(body: bytes, headers: Headers, document: Any) -> object:
        check_depth(body, document)
        return None

    def validate(body: bytes, headers: Headers, document: Any) -> object:
        return light.schemas.check(document)

    def tenant_scope(body: bytes, headers: Headers, document: Any) -> object:
        return scope(document, DEFAULT, registry.current)  # the default tenant's: no change

    def identify(body: bytes, headers: Headers, document: Any) -> object:
        return light.identify(document, verified, now)

    def trace(body: bytes, headers: Headers, document: Any) -> object:
        return tracing.passed_through(headers)

    def record(body: bytes, headers: Headers, document: Any) -> object:
        return encode(
            CloudEvent(
                "msg", "light", "enrollment.created", moment, b"key", body,
                extensions=((TENANT_HEADER, b"default"),),
            )
        )  # fmt: skip

    def rate_limit(body: bytes, headers: Headers, document: Any) -> object:
        limits.let_through(DEFAULT)  # the shedding front's half, then the route's
        limits.admit(DEFAULT)
        return None

    def count(body: bytes, headers: Headers, document: Any) -> object:
        return metrics.child(metrics.requests, "light", "enrollment.created", "200").inc()

    steps = [
        ("tenant's rate limit", rate_limit),
        ("parse the JSON body", parse),
        ("depth check", depth),
        ("schema validation", validate),
        ("tenant scope", tenant_scope),
        ("message id and key", identify),
        ("trace context passed through", trace),
        ("CloudEvents record", record),
        ("request counter", count),
    ]
    timings: dict[str, float] = {}

    async def verify(body: bytes, headers: Headers, document: Any) -> object:
        return await light.authenticator.authenticate(headers, body, now, DEFAULT)

    async def deduplicate(body: bytes, headers: Headers, document: Any) -> object:
        return await deduplicator.publish_once(f"light:{next(ids)}", send)

    async def publish_timeout(body: bytes, headers: Headers, document: Any) -> object:
        async with asyncio.timeout(settings.http.publish_timeout):
            await acknowledged  # done: the timeout's own cost alone
        return None

    asynchronous = [
        ("signature (HMAC over the body)", verify),
        ("deduplication", deduplicate),
        ("the publish's timeout", publish_timeout),
    ]
    for name, step in asynchronous:
        timings[name] = await _timed_async(step, requests)
    for name, call in steps:
        timings[name] = _timed(call, requests)
    return timings


def _timed(call: Callable[[bytes, Any, Any], object], requests: list[Any]) -> float:
    started = time.perf_counter()
    for n in range(ROUNDS):
        call(*requests[n % BODIES])
    return 1e6 * (time.perf_counter() - started) / ROUNDS


async def _timed_async(
    call: Callable[[bytes, Any, Any], Awaitable[object]], requests: list[Any]
) -> float:
    started = time.perf_counter()
    for n in range(ROUNDS):
        await call(*requests[n % BODIES])
        if n % 100 == 99:  # what the step left to the loop (an acknowledgement's callbacks) runs
            await asyncio.sleep(0)
    return 1e6 * (time.perf_counter() - started) / ROUNDS


def rows(timings: dict[str, float], ingress: dict[str, Any] | None) -> list[Row]:
    """A row per step, and their sum beside gridhook's CPU per request over the bare handler's
    when the same run measured both."""
    table = [Row("Ingress steps, in-process, us per Light webhook", "")]
    table += [Row(f"  {name}", f"{us:.1f} us") for name, us in timings.items()]
    total = sum(timings.values())
    summed = f"{total:.1f} us"
    if ingress is not None:
        ours = ingress["gridhook"]["server_cpu_us_per_request"]
        bare = ingress["bare_send-idempotent"]["server_cpu_us_per_request"]
        summed += f" of the {ours - bare:.0f} us gridhook's request costs over the bare handler"
    table.append(Row("  the steps together", summed))
    return table
