"""The ingress pipeline every source shares: read, authenticate, parse, validate, deduplicate,
publish, and answer only after Kafka acknowledged the record.

Order of checks: media type (415), size (413), credentials over the raw body (401), JSON (400),
schema (422), then publishing (503 when Kafka does not acknowledge in time). Each check raises a
`Refusal`; `service.ingress.problems` renders it in the route's style.
"""

from __future__ import annotations

import asyncio
import email.errors
import http
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import orjson
from aiohttp import web
from opentelemetry.trace import use_span

from gridhook.contract import tracing
from gridhook.contract.codec import TENANT_HEADER, CloudEvent, encode
from gridhook.contract.errors import (
    BodyTooLarge,
    GridhookError,
    MalformedJson,
    Refusal,
    SchemaViolation,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from gridhook.contract.settings import Settings
from gridhook.contract.tenants import CURRENT_TENANT, DEFAULT
from gridhook.kafka.publisher import Delivery
from service.ingress import keys, problems
from service.ingress.front import Limited, ShedAnswer, ShedRoutes, prepared_response
from service.ingress.metrics import IngressMetrics
from service.ingress.sources import Identity, Source
from service.ingress.tenancy import Limits, too_many_requests
from service.ingress.validation import check_depth

log = logging.getLogger("gridhook.ingress")

RETRY_AFTER_SECONDS = "5"
SHED_RETRY_AFTER_SECONDS = "1"
_SHED = Unavailable(
    "too many requests in flight", headers={"Retry-After": SHED_RETRY_AFTER_SECONDS}
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# What every route on the pipeline may refuse, in the order the checks run (README, Ingress).
REFUSALS: tuple[tuple[type[Refusal], str], ...] = (
    (UnsupportedMediaType, "The body is not application/json."),
    (BodyTooLarge, "The body is larger than GRIDHOOK_MAX_BODY_BYTES."),
    (Unauthenticated, "Missing or invalid credentials."),
    (MalformedJson, "The body is not JSON, or nests deeper than 64 levels."),
    (SchemaViolation, "The body does not match the schema."),
    (
        Unavailable,
        "Kafka did not acknowledge in time, or GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT publishes await "
        "Kafka's acknowledgement (load shedding); retry after Retry-After.",
    ),
)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body; `BodyTooLarge` when it is larger than `limit` bytes (declared or
    streamed)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"the limit is {limit} bytes")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(f"the limit is {limit} bytes") from None


def shed_routes(
    metrics: IngressMetrics, exact: Mapping[str, Source], one_segment_under: Mapping[str, Source]
) -> ShedRoutes:
    """The pipeline routes a `SheddingFront` may refuse, each with the 503 its handler gives
    when shedding, prepared, and counted in the same metrics."""

    def answer(source: Source) -> ShedAnswer:
        status, response = _prepared(_SHED, source)
        shed = metrics.child(metrics.shed, source.name)
        answered = metrics.child(metrics.requests, source.name, "", str(status))

        def counted() -> None:
            shed.inc()
            answered.inc()

        return ShedAnswer(response, counted)

    return ShedRoutes(
        exact={path.encode(): answer(source) for path, source in exact.items()},
        one_segment_under={
            path.encode(): answer(source) for path, source in one_segment_under.items()
        },
    )


def light_tenant_limits(metrics: IngressMetrics, limits: Limits, light: Source) -> Limited:
    """For a `SheddingFront`: the 429 a Light tenant past its rate gets on its path
    (`/webhooks/light[/<tenant>]`), counted as the handler counts it; else None, and the
    request's token is taken (`Limits.let_through`)."""
    path = light.path.encode()
    prefix = path + b"/"
    prepared: dict[tuple[str, float], ShedAnswer] = {}

    def limited(url: bytes) -> ShedAnswer | None:
        target = url.partition(b"?")[0]
        if target == path:
            tenant = DEFAULT
        elif target.startswith(prefix) and b"/" not in target[len(prefix) :]:
            tenant = target[len(prefix) :].decode(errors="replace")
        else:
            return None
        wait = limits.let_through(tenant)
        if wait == 0:
            return None
        refusal = too_many_requests(wait)
        key = (tenant, float(refusal.headers["Retry-After"]))
        found = prepared.get(key)
        if found is None:
            status, response = _prepared(refusal, light)
            counters = (
                metrics.child(metrics.tenant_requests, tenant),
                metrics.child(metrics.rate_limited, tenant),
                metrics.child(metrics.requests, light.name, "", str(status)),
            )

            def counted() -> None:
                for counter in counters:
                    counter.inc()

            found = prepared[key] = ShedAnswer(response, counted)
        return found

    return limited


def _prepared(refusal: Refusal, source: Source) -> tuple[int, bytes]:
    """The status and the whole HTTP response `source`'s handler would answer `refusal` with."""
    status, headers, body = problems.answer_parts(refusal, source.style)
    status_line = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()
    return status, prepared_response(status_line, headers, body)


def make_handler(source: Source) -> Handler:
    """The aiohttp handler of `source`."""
    tracer = tracing.tracer()
    span_name = f"POST {source.path}"

    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        settings = app[keys.SETTINGS]
        metrics = app[keys.METRICS]
        event_type = ""
        status = 500
        shedding = app[keys.SHEDDING]
        shedding.arrived()
        if shedding.full():
            # Answered here rather than raised: a refusal must cost as little as it can.
            metrics.child(metrics.shed, source.name).inc()
            metrics.child(metrics.requests, source.name, event_type, "503").inc()
            return problems.render(_SHED, source.style)
        span = None
        if tracing.recording():
            span = tracer.start_span(
                span_name, context=tracing.from_http(request.headers), kind=tracing.SERVER
            )
            trace = tracing.record_headers(span)
        else:  # the caller's trace (or a new one) only passes through: no span costs CPU
            trace = tracing.passed_through(request.headers)
        try:
            if span is None:
                response = await _accept(request, settings, metrics, trace)
            else:
                with use_span(span, end_on_exit=False):
                    response = await _accept(request, settings, metrics, trace)
            status = response.status
            event_type = response.event_type
            return response
        except Refusal as refusal:
            status = source.style.status_of(type(refusal))
            raise
        finally:
            if span is not None:
                span.set_attribute("http.response.status_code", status)
                span.end()
            metrics.child(metrics.requests, source.name, event_type, str(status)).inc()

    async def _accept(
        request: web.Request,
        settings: Settings,
        metrics: IngressMetrics,
        trace: list[tuple[str, bytes]],
    ) -> _Accepted:
        app = request.app
        if not is_json(request):
            raise UnsupportedMediaType("send application/json")
        tenant = source.authenticator.tenant_of(request)
        CURRENT_TENANT.set(tenant)  # this request's task only
        metrics.child(metrics.tenant_requests, tenant).inc()
        try:
            app[keys.LIMITS].admit(tenant)  # before the body is read
        except Refusal:
            metrics.child(metrics.rate_limited, tenant).inc()
            raise
        body = await read_body(request, settings.http.max_body_bytes)
        now = app[keys.CLOCK]()
        verified = await source.authenticator.authenticate(request.headers, body, now, tenant)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise MalformedJson("the body is not valid JSON") from None
        check_depth(body, document)
        checked = source.schemas.check(document)
        if source.refine is not None:
            source.refine(document)
        if source.scope is not None:
            source.scope(document, tenant, app[keys.TENANTS].current)
        if source.seal is not None:
            await source.seal(app, document)
        identity = source.identify(document, verified, now)
        if source.admit is not None and await source.admit(app, document, identity):
            metrics.child(metrics.duplicates, source.name).inc()
            return _reply(source, document, identity, checked.event_type, duplicate=True)
        if not checked.known:
            metrics.unknown_event_types.labels(source.name, checked.event_type).inc()
        record = encode(
            CloudEvent(
                id=identity.message_id,
                source=source.name,
                type=checked.event_type,
                time=datetime.fromtimestamp(now, UTC),
                key=identity.key.encode(),
                data=orjson.dumps(document) if source.republish or tenant != DEFAULT else body,
                extensions=(*trace, (TENANT_HEADER, tenant.encode())),
            )
        )
        publisher = app[keys.PUBLISHER]
        latency = metrics.child(metrics.publish_seconds, source.topic)

        async def send() -> asyncio.Future[Delivery]:
            started = time.perf_counter()
            delivery = await publisher.send(source.topic, record)
            delivery.add_done_callback(lambda _: latency.observe(time.perf_counter() - started))
            return delivery

        in_flight = metrics.publishes_in_flight
        in_flight.inc()
        shedding = app[keys.SHEDDING]
        shedding.taken += 1
        try:
            async with asyncio.timeout(settings.http.publish_timeout):
                delivery, duplicate = await app[keys.DEDUPLICATOR].publish_once(
                    f"{source.name}:{identity.dedup_key or identity.message_id}",
                    send,
                    remember=identity.within_window,
                )
        except TimeoutError:
            log.warning(
                "kafka did not acknowledge in time",
                extra={"fields": {"source": source.name, "topic": source.topic}},
            )
            raise unavailable("Kafka did not acknowledge in time") from None
        except GridhookError as error:
            log.warning(
                "publish failed",
                extra={"fields": {"source": source.name, "error": type(error).__name__}},
            )
            raise unavailable("Kafka is not available") from None
        finally:
            in_flight.dec()
            shedding.taken -= 1
        if duplicate:
            metrics.child(metrics.duplicates, source.name).inc()
        if delivery is not None and source.published is not None:
            source.published(app, document, identity, delivery)
        return _reply(source, document, identity, checked.event_type, duplicate=duplicate)

    return handle


def _reply(
    source: Source, document: object, identity: Identity, event_type: str, *, duplicate: bool
) -> _Accepted:
    if source.reply is not None:
        payload = source.reply(document, identity, duplicate)
        return _Accepted(payload, event_type, source.accepted_status)
    status = "duplicate" if duplicate else "accepted"
    return _Accepted({"status": status, "id": identity.message_id}, event_type)


def is_json(request: web.Request) -> bool:
    """True for `application/json` (any parameters); a malformed header is simply not JSON."""
    try:
        return request.content_type == "application/json"
    except (ValueError, IndexError, email.errors.MessageError):
        return False


class _Accepted(web.Response):
    """A 2xx answer that remembers the event type for the request metric."""

    def __init__(self, payload: dict[str, object], event_type: str, status: int = 200) -> None:
        super().__init__(body=orjson.dumps(payload), status=status, content_type="application/json")
        self.event_type = event_type


def unavailable(detail: str) -> Unavailable:
    """A 503 that tells the partner when to retry."""
    return Unavailable(detail, headers={"Retry-After": RETRY_AFTER_SECONDS})
