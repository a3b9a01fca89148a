"""The bind forwarder: the `BatchHandler` of `powerbox.bind.requests`, and the only caller of
the head-end.

For each record (in meter order) the arbiter decides in one transaction: a conflicting request
is rejected, any other marks its meter pending. Then, without blocking other meters, a task per
meter drives the request to its outcome (`consumers.bind.driver`) and publishes each step to
`powerbox.bind.results`. A request that exhausts its retries is published as failed and its
record sent to `powerbox.bind.requests.dlq`.

Every step is durable before the next: after a crash, `resume()` drives the requests still in
flight again (submitting again is safe: the head-end never joins a device twice for one bind
id) and publishes outcomes not yet published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from consumers.bind.arbiter import DUPLICATE, REJECTED, BindArbiter
from consumers.bind.driver import BindDriver
from consumers.bind.gateway import Gateway
from consumers.bind.requests import BindRequest, record_from_json
from consumers.bind.results import result_record
from consumers.runtime import Counts, InboundRecord, dead_letter
from gridhook.contract.errors import BindExhausted, GridhookError, PermanentError
from gridhook.contract.settings import BindSettings
from gridhook.contract.topics import DLQ_SUFFIX, POWERBOX_BIND_RESULTS
from gridhook.kafka.publisher import Publisher
from gridhook.state.bind_rules import pending_state
from gridhook.state.store import Store

log = logging.getLogger("gridhook.bind")


class BindForwarder:
    """Arbitrates each record, then drives each accepted request in a task of its meter."""

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        publisher: Publisher,
        settings: BindSettings,
        driver: BindDriver | None = None,
    ) -> None:
        self._arbiter = BindArbiter(store)
        self._driver = driver or BindDriver(gateway, settings)
        self._publisher = publisher
        self._driving: dict[str, asyncio.Task[None]] = {}

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        for record in records:
            try:
                request = BindRequest.of_record(record)
            except PermanentError as error:
                counts.rejected.append((record, error))
                continue
            admission = await self._arbiter.admit(request, record)
            if admission.decision == DUPLICATE:
                counts.duplicates += 1
            else:
                counts.applied += 1
            if admission.decision == REJECTED:
                await self._publish(request, "rejected", None, "rejected_conflict")
            elif admission.drive:
                # New, or redelivered while still in flight (e.g. the pending result was not
                # published before a failure): make sure it is announced and driven.
                await self._publish(request, "pending", pending_state(request.action), None)
                self._drive(request, record)
        return counts

    async def resume(self) -> int:
        """Drive the requests left in flight by a previous run; publish unpublished outcomes."""
        rows = await self._arbiter.unpublished()
        for row in rows:
            record = record_from_json(row.request)
            request = BindRequest.of_record(record)
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

    def _drive(self, request: BindRequest, record: InboundRecord) -> None:
        if request.meter_id in self._driving:
            return
        task = asyncio.create_task(self._complete(request, record))
        self._driving[request.meter_id] = task
        task.add_done_callback(lambda _: self._driving.pop(request.meter_id, None))

    async def _complete(self, request: BindRequest, record: InboundRecord) -> None:
        try:
            outcome = await self._driver.outcome(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bind driving failed", extra={"fields": {"bind_id": request.bind_id}})
            return
        await self._arbiter.finish(request, outcome.state, outcome.reason)
        if outcome.exhausted:
            error = BindExhausted(f"gave up after retries: {outcome.reason}")
            await _until_published(
                lambda: self._publisher.publish(
                    record.topic + DLQ_SUFFIX, dead_letter(record, error)
                )
            )
        await self._announce_final(request, outcome.state, outcome.reason)

    async def _announce_final(self, request: BindRequest, state: str, reason: str | None) -> None:
        outcome = {"bound": "bound", "unbound": "unbound"}.get(state, "failed")
        await _until_published(lambda: self._publish(request, outcome, state, reason))
        await self._arbiter.mark_published(request)
        log.info(
            "bind request finished",
            extra={"fields": {"bind_id": request.bind_id, "state": state, "reason": reason}},
        )

    async def _publish(
        self, request: BindRequest, outcome: str, state: str | None, reason: str | None
    ) -> None:
        record = result_record(request, outcome=outcome, state=state, reason=reason)
        await self._publisher.publish(POWERBOX_BIND_RESULTS, record)


async def _until_published(publish: Callable[[], Awaitable[object]]) -> None:
    """Kafka outages do not lose an outcome: retry until it is published."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(GridhookError),
        wait=wait_exponential_jitter(multiplier=0.5, max=30),
    ):
        with attempt:
            await publish()
