"""The ingress pipeline every source shares: read, authenticate, parse, validate, deduplicate,
publish, and answer only after Kafka acknowledged the record.

Order of checks: size (413), media type (415), credentials over the raw body (401), JSON (400),
schema (422), then publishing (503 when Kafka does not acknowledge in time).
"""

from __future__ import annotations

import asyncio
import email.errors
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from aiohttp import web

from gridhook.errors import GridhookError
from gridhook.settings import Settings
from producers.codec import CloudEvent, encode
from producers.publisher import Delivery
from service import keys
from service.auth import AuthenticationFailed
from service.metrics import IngressMetrics
from service.problems import problem
from service.sources import Identity, Source
from service.validation import SchemaViolation

log = logging.getLogger("gridhook.ingress")

RETRY_AFTER_SECONDS = "5"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def read_body(request: web.Request, source: Source, limit: int) -> bytes:
    """The raw body, or 413 when it is larger than `limit` bytes (declared or streamed)."""

    def too_large(size: int) -> web.HTTPException:
        return problem(
            413,
            "Request body too large",
            f"the limit is {limit} bytes",
            with_body=source.problem_bodies,
            max_size=limit,
            actual_size=size,
        )

    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(declared)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(0) from None


def make_handler(source: Source) -> Handler:
    """The aiohttp handler of `source`."""
    bodies = source.problem_bodies

    async def handle(request: web.Request) -> web.StreamResponse:
        app = request.app
        settings = app[keys.SETTINGS]
        metrics = app[keys.METRICS]
        event_type = ""
        status = 500
        try:
            response = await _accept(request, settings, metrics)
            status = response.status
            event_type = response.event_type
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            metrics.requests.labels(source.name, event_type, str(status)).inc()

    async def _accept(
        request: web.Request, settings: Settings, metrics: IngressMetrics
    ) -> _Accepted:
        app = request.app
        if not _is_json(request):
            raise problem(415, "Unsupported media type", "send application/json", with_body=bodies)
        body = await read_body(request, source, settings.http.max_body_bytes)
        now = app[keys.CLOCK]()
        try:
            verified = await source.authenticator.authenticate(request.headers, body, now)
        except AuthenticationFailed as failed:
            raise problem(401, "Unauthorized", failed.reason, with_body=bodies) from None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise problem(
                400, "Malformed JSON", "the body is not valid JSON", with_body=bodies
            ) from None
        try:
            checked = source.schemas.check(document)
        except SchemaViolation as violation:
            raise problem(
                source.invalid_status,
                "Schema violation",
                "the body does not match the schema of its event type",
                with_body=bodies,
                errors=[{"pointer": v.pointer, "detail": v.problem} for v in violation.violations],
            ) from None
        identity = source.identify(document, verified)
        if source.admit is not None and await source.admit(app, document, identity):
            metrics.duplicates.labels(source.name).inc()
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
                data=body,
            )
        )
        publisher = app[keys.PUBLISHER]
        latency = metrics.publish_seconds.labels(source.topic)

        async def send() -> asyncio.Future[Delivery]:
            started = time.perf_counter()
            delivery = await publisher.send(source.topic, record)
            delivery.add_done_callback(lambda _: latency.observe(time.perf_counter() - started))
            return delivery

        try:
            async with asyncio.timeout(settings.http.publish_timeout):
                _, duplicate = await app[keys.DEDUPLICATOR].publish_once(
                    f"{source.name}:{identity.message_id}", send
                )
        except TimeoutError:
            log.warning(
                "kafka did not acknowledge in time",
                extra={"fields": {"source": source.name, "topic": source.topic}},
            )
            raise _unavailable("Kafka did not acknowledge in time", bodies) from None
        except GridhookError as error:
            log.warning(
                "publish failed",
                extra={"fields": {"source": source.name, "error": type(error).__name__}},
            )
            raise _unavailable("Kafka is not available", bodies) from None
        if duplicate:
            metrics.duplicates.labels(source.name).inc()
        return _reply(source, document, identity, checked.event_type, duplicate=duplicate)

    return handle


def _reply(
    source: Source, document: object, identity: Identity, event_type: str, *, duplicate: bool
) -> _Accepted:
    if source.reply is not None:
        return _Accepted(source.reply(document, identity, duplicate), event_type)
    status = "duplicate" if duplicate else "accepted"
    return _Accepted({"status": status, "id": identity.message_id}, event_type)


def _is_json(request: web.Request) -> bool:
    """True for `application/json` (any parameters); a malformed header is simply not JSON."""
    try:
        return request.content_type == "application/json"
    except (ValueError, IndexError, email.errors.MessageError):
        return False


class _Accepted(web.Response):
    """A 200 answer that remembers the event type for the request metric."""

    def __init__(self, payload: dict[str, object], event_type: str) -> None:
        super().__init__(body=orjson.dumps(payload), content_type="application/json")
        self.event_type = event_type


def _unavailable(detail: str, with_body: bool) -> web.HTTPException:
    return problem(
        503,
        "Service unavailable",
        detail,
        with_body=with_body,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )
