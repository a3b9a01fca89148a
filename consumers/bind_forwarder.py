"""The bind forwarder: arbiter of each meter's bind state, and the only caller of the head-end.

For each record of `powerbox.bind.requests` (in meter order), one transaction records the
request as seen and either rejects it (it conflicts with the meter's state: bind on a bound or
pending meter, unbind on an unbound one) or marks the meter pending, keeping the request. Then,
without blocking other meters, a task drives the request to its outcome: it submits the request
to the head-end (idempotent on the bind id), waits for the join, retries transient failures
with exponential backoff and jitter (bounded attempts and total time), and publishes each change
to `powerbox.bind.results`. A request that exhausts its retries is published as failed and its
record sent to `powerbox.bind.requests.dlq`.

Every step is durable before the next: after a crash, `resume()` picks up the requests still
in flight (submitting again is safe: the head-end never joins a device twice for one bind id)
and publishes outcomes not yet published.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from consumers.gateway import GatewayClient, GatewayRejected, GatewayStatus, GatewayUnavailable
from consumers.runtime import Counts, InboundRecord, dead_letter
from consumers.schema import bind_arbiter, bind_requests_seen
from consumers.store import Store
from gridhook.errors import GridhookError, PermanentError
from gridhook.settings import BindSettings
from producers.codec import CloudEvent, decode, encode, format_time
from producers.publisher import Publisher
from producers.topics import DLQ_SUFFIX

log = logging.getLogger("gridhook.bind")

RESULTS_TOPIC = "powerbox.bind.results"
RESULT_SOURCE = "gridhook-bind"
BIND_CONFLICTS = frozenset({"bound", "bind_pending", "unbind_pending"})
UNBIND_CONFLICTS = frozenset({"unbound", "bind_failed", "bind_pending", "unbind_pending"})
POLL_FIRST, POLL_MAX = 0.2, 5.0


class InvalidBindRequest(PermanentError):
    """A bind request record without the fields the forwarder needs."""


class BindExhausted(PermanentError):
    """A bind request failed transiently on every attempt the forwarder may make."""


class _Transient(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BindRequest:
    bind_id: str
    meter_id: str
    action: str
    mac: str
    install_code: str
    hem_profile_id: str | None

    @classmethod
    def parse(cls, event: CloudEvent) -> BindRequest:
        try:
            body = orjson.loads(event.data)
            action = {1: "bind", 0: "unbind"}[body["actionCode"]]
            return cls(
                bind_id=event.id,
                meter_id=str(body["meterId"]),
                action=action,
                mac=str(body["macAddress"]),
                install_code=str(body["installCode"]),
                hem_profile_id=body.get("hemProfileId"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise InvalidBindRequest(
                f"bind request lacks a field: {type(error).__name__}"
            ) from None


def _now() -> str:
    return format_time(datetime.now(UTC))


def _record_to_json(record: InboundRecord) -> dict[str, Any]:
    def b64(raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode()

    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": b64(record.key),
        "value": b64(record.value),
        "headers": [[name, b64(value)] for name, value in record.headers],
        "timestamp_ms": record.timestamp_ms,
    }


def _record_from_json(raw: dict[str, Any]) -> InboundRecord:
    def unb64(text: str | None) -> bytes | None:
        return None if text is None else base64.b64decode(text)

    return InboundRecord(
        topic=raw["topic"],
        partition=raw["partition"],
        offset=raw["offset"],
        key=unb64(raw["key"]),
        value=unb64(raw["value"]),
        headers=tuple((name, unb64(value) or b"") for name, value in raw["headers"]),
        timestamp_ms=raw["timestamp_ms"],
    )


class BindForwarder:
    """A `BatchHandler` for `powerbox.bind.requests`, plus the tasks driving each request."""

    def __init__(
        self,
        store: Store,
        gateway: GatewayClient,
        publisher: Publisher,
        settings: BindSettings,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._publisher = publisher
        self._settings = settings
        self._driving: dict[str, asyncio.Task[None]] = {}

    # -- the consumer side -------------------------------------------------------------

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        for record in records:
            try:
                request = BindRequest.parse(decode(record.key, record.value, record.headers))
            except PermanentError as error:
                counts.rejected.append((record, error))
                continue
            outcome = await self._admit(request, record)
            if outcome == "duplicate":
                counts.duplicates += 1
            else:
                counts.applied += 1
        return counts

    async def _admit(self, request: BindRequest, record: InboundRecord) -> str:
        """Arbitrate one request: 'accepted', 'rejected' or 'duplicate'."""
        async with self._store.translated(), self._store.engine.begin() as connection:
            seen = await connection.scalar(
                select(bind_requests_seen.c.bind_id).where(
                    bind_requests_seen.c.bind_id == request.bind_id
                )
            )
            query = select(bind_arbiter).where(bind_arbiter.c.meter_id == request.meter_id)
            if not self._store.is_sqlite:
                query = query.with_for_update()
            row = (await connection.execute(query)).first()
            if seen is not None:
                decision = "duplicate"
            else:
                await connection.execute(
                    bind_requests_seen.insert().values(
                        bind_id=request.bind_id, meter_id=request.meter_id, seen_at=_now()
                    )
                )
                state = row.state if row is not None else "unbound"
                conflicts = BIND_CONFLICTS if request.action == "bind" else UNBIND_CONFLICTS
                if state in conflicts:
                    decision = "rejected"
                else:
                    decision = "accepted"
                    pending = "bind_pending" if request.action == "bind" else "unbind_pending"
                    values = {
                        "meter_id": request.meter_id,
                        "bind_id": request.bind_id,
                        "action": request.action,
                        "state": pending,
                        "reason": None,
                        "finished": False,
                        "published": False,
                        "request": _record_to_json(record),
                        "updated_at": _now(),
                    }
                    dialect = sqlite if self._store.is_sqlite else postgresql
                    insert = dialect.insert(bind_arbiter).values(values)
                    await connection.execute(
                        insert.on_conflict_do_update(
                            index_elements=[bind_arbiter.c.meter_id],
                            set_={k: v for k, v in values.items() if k != "meter_id"},
                        )
                    )
        if decision == "rejected":
            await self._publish(request, outcome="rejected", state=None, reason="rejected_conflict")
        elif decision == "accepted" or (
            row is not None and row.bind_id == request.bind_id and not row.finished
        ):
            # New, or redelivered while still in flight (e.g. the pending result was not
            # published before a failure): make sure it is announced and driven.
            pending = "bind_pending" if request.action == "bind" else "unbind_pending"
            await self._publish(request, outcome="pending", state=pending, reason=None)
            self._drive(request, record)
        return decision

    # -- recovery ----------------------------------------------------------------------

    async def resume(self) -> int:
        """Drive the requests left in flight by a previous run; publish unpublished outcomes."""
        async with self._store.translated(), self._store.engine.connect() as connection:
            rows = (
                await connection.execute(select(bind_arbiter).where(~bind_arbiter.c.published))
            ).all()
        for row in rows:
            record = _record_from_json(row.request)
            request = BindRequest.parse(decode(record.key, record.value, record.headers))
            if row.finished:
                await self._announce_final(request, row.state, row.reason)
            else:
                self._drive(request, record)
        if rows:
            log.info("resumed bind requests", extra={"fields": {"requests": len(rows)}})
        return len(rows)

    async def close(self) -> None:
        """Stop driving; what is unfinished is resumed by the next run."""
        tasks = list(self._driving.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until no request is being driven (for tests and orderly shutdown)."""
        while self._driving:
            await asyncio.gather(*self._driving.values(), return_exceptions=True)

    # -- driving one request -----------------------------------------------------------

    def _drive(self, request: BindRequest, record: InboundRecord) -> None:
        if request.meter_id in self._driving:
            return
        task = asyncio.create_task(self._complete(request, record))
        self._driving[request.meter_id] = task
        task.add_done_callback(lambda _: self._driving.pop(request.meter_id, None))

    async def _complete(self, request: BindRequest, record: InboundRecord) -> None:
        try:
            state, reason, exhausted = await self._outcome(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bind driving failed", extra={"fields": {"bind_id": request.bind_id}})
            return
        await self._update_row(
            request, state=state, reason=reason, finished=True, updated_at=_now()
        )
        if exhausted:
            error = BindExhausted(f"gave up after retries: {reason}")
            await self._retry_publish(
                lambda: self._publisher.publish(
                    record.topic + DLQ_SUFFIX, dead_letter(record, error)
                )
            )
        await self._announce_final(request, state, reason)

    async def _announce_final(self, request: BindRequest, state: str, reason: str | None) -> None:
        outcome = {"bound": "bound", "unbound": "unbound"}.get(state, "failed")
        await self._retry_publish(
            lambda: self._publish(request, outcome=outcome, state=state, reason=reason)
        )
        await self._update_row(request, published=True)
        log.info(
            "bind request finished",
            extra={"fields": {"bind_id": request.bind_id, "state": state, "reason": reason}},
        )

    async def _update_row(self, request: BindRequest, **values: Any) -> None:
        """Update the meter's arbiter row, if it still belongs to this request."""
        async with self._store.translated(), self._store.engine.begin() as connection:
            await connection.execute(
                update(bind_arbiter)
                .where(
                    bind_arbiter.c.meter_id == request.meter_id,
                    bind_arbiter.c.bind_id == request.bind_id,
                )
                .values(**values)
            )

    async def _outcome(self, request: BindRequest) -> tuple[str, str | None, bool]:
        """The meter's state after the request, the reason of a failure, and whether the
        request exhausted its retries."""
        bind = request.action == "bind"
        try:
            async with asyncio.timeout(self._settings.max_seconds):
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self._settings.max_attempts),
                    wait=wait_exponential_jitter(multiplier=0.5, max=self._settings.backoff_max),
                    retry=retry_if_exception_type(_Transient),
                    reraise=True,
                ):
                    with attempt:
                        status = await self._attempt(request)
        except (_Transient, TimeoutError) as error:
            reason = error.reason if isinstance(error, _Transient) else "timed_out"
            # A failed unbind leaves the device on the meter.
            return ("bind_failed" if bind else "bound"), reason, True
        except GatewayRejected:
            return ("bind_failed" if bind else "bound"), "gateway_rejected", False
        if status.status == "joined":
            return "bound", None, False
        if status.status == "left":
            return "unbound", None, False
        if not bind and status.reason == "not_joined":
            return "unbound", "not_joined", False
        return ("bind_failed" if bind else "bound"), status.reason or "failed", False

    async def _attempt(self, request: BindRequest) -> GatewayStatus:
        """Submit once and wait for the head-end's verdict; `_Transient` when worth retrying."""
        try:
            status = await self._gateway.submit(
                request.bind_id, request.meter_id, request.mac, request.install_code, request.action
            )
        except GatewayUnavailable:
            raise _Transient("gateway_unavailable") from None
        delay = POLL_FIRST
        while status.status == "pending":
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX)
            with contextlib.suppress(GatewayUnavailable):
                status = await self._gateway.status(request.bind_id)
        if status.status == "failed" and status.transient:
            raise _Transient(status.reason or "transient_failure")
        return status

    # -- results -----------------------------------------------------------------------

    async def _publish(
        self, request: BindRequest, *, outcome: str, state: str | None, reason: str | None
    ) -> None:
        body = {
            "bindId": request.bind_id,
            "meterId": request.meter_id,
            "hemProfileId": request.hem_profile_id,
            "macAddress": request.mac,
            "action": request.action,
            "outcome": outcome,
            "state": state,
            "reason": reason,
            "occurredAt": _now(),
        }
        event = CloudEvent(
            id=f"{request.bind_id}:{outcome}",
            source=RESULT_SOURCE,
            type=f"powerbox.bind.{outcome}",
            time=datetime.now(UTC),
            key=request.meter_id.encode(),
            data=orjson.dumps(body),
        )
        await self._publisher.publish(RESULTS_TOPIC, encode(event))

    async def _retry_publish(self, publish: Any) -> None:
        """Kafka outages do not lose an outcome: retry until it is published."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(GridhookError),
            wait=wait_exponential_jitter(multiplier=0.5, max=30),
        ):
            with attempt:
                await publish()
