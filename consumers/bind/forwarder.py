"""The bind forwarder: the `BatchHandler` of `powerbox.bind.requests`, and the only caller of
the head-end.

For each record (in meter order) the arbiter decides in one transaction: a request that
conflicts with the meter's state, or an unbind naming another device than the one bound, is
rejected; any other marks its meter pending. Then, without blocking other meters, a task per
meter drives the request to its outcome (`consumers.bind.driver`) and publishes each step to
`powerbox.bind.results`. A request that exhausts its attempts, or passes its deadline, is
published as failed and its record sent to `powerbox.bind.requests.dlq`, from which
`gridhook replay powerbox.bind.requests --dlq` re-drives it as a new round; past the deadline
the head-end is still asked, and a late join published.

Every step is durable before the next. The forwarder drives only the requests of the partitions
it holds: when partitions are assigned to it (at start, or taken over from a forwarder that
stopped or died) it resumes their unfinished requests, submitting again where needed (safe: the
head-end never joins a device twice for one bind id) and publishing outcomes not yet published;
when partitions are revoked it stops driving theirs, at the durable point each has reached, for
the next owner to go on from. Any number of forwarders may run in one group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from consumers.bind.driver import BindDriver, Driven
from consumers.bind.gateway import Gateway
from consumers.bind.results import result_record
from consumers.outbox import until_published
from consumers.partition_tasks import PartitionOwnedWork
from gridhook.contract import tracing
from gridhook.contract.codec import REPLAYED_FROM, header
from gridhook.contract.errors import BindExhausted, PermanentError
from gridhook.contract.settings import BindSettings
from gridhook.contract.topics import DLQ_SUFFIX, POWERBOX_BIND_REQUESTS, POWERBOX_BIND_RESULTS
from gridhook.kafka.consumer import Counts, dead_letter
from gridhook.kafka.publisher import Publisher
from gridhook.kafka.records import InboundRecord
from gridhook.state.binds import BindRequest, BindState, Outcome, final_outcome
from gridhook.state.meter_binds import Decision, Job, MeterBinds, request_of
from gridhook.state.store import Store

log = logging.getLogger("gridhook.bind")


def is_redrive(record: InboundRecord) -> bool:
    """True for a record `gridhook replay --dlq` sent back from the dead-letter topic."""
    origin = header(record.headers, REPLAYED_FROM) or b""
    return (record.topic + DLQ_SUFFIX + "/").encode() in origin


class BindForwarder(PartitionOwnedWork[Job]):
    """Arbitrates each record, then drives each accepted request in a task of its meter."""

    topic = POWERBOX_BIND_REQUESTS
    noun = "bind requests"

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        publisher: Publisher,
        settings: BindSettings,
        driver: BindDriver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._binds = MeterBinds(store)
        self._driver = driver or BindDriver(gateway, settings, clock)
        self._publisher = publisher
        self._deadline = settings.deadline
        self._clock = clock
        super().__init__()

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        for record in records:
            try:
                request = request_of(record)
            except PermanentError as error:
                counts.rejected.append((record, error))
                continue
            with tracing.tracer().start_as_current_span(
                "bind forwarder admit",
                context=tracing.from_record(record.headers),
                kind=tracing.CONSUMER,
            ):
                await self._admit(request, record, counts)
        return counts

    async def _admit(self, request: BindRequest, record: InboundRecord, counts: Counts) -> None:
        admission = await self._binds.admit(
            request,
            record,
            redrive=is_redrive(record),
            deadline_at=self._clock() + self._deadline,
        )
        if admission.decision == Decision.DUPLICATE:
            counts.duplicates += 1
        else:
            counts.applied += 1
        if admission.decision == Decision.REJECTED:
            await self._publish(request, Outcome.REJECTED, None, admission.reason, admission.round)
        elif admission.drive:
            # New, or redelivered while still in flight (e.g. the pending result was not
            # published before a failure): make sure it is announced and driven.
            pending = request.action.pending
            await self._publish(request, Outcome.PENDING, pending, None, admission.round)
            job = await self._binds.job(request.meter_id)
            if job is not None:
                self.drive(job)

    async def unfinished(self, partitions: set[int] | None) -> list[Job]:
        """Requests in flight, outcomes not yet published, and requests past their deadline
        still reconciled with the head-end."""
        return await self._binds.unfinished(partitions)

    def drive(self, job: Job) -> None:
        meter, name = job.request.meter_id, f"{job.request.bind_id}:{job.round}"
        running = self._driving.running(meter)
        if running is not None:
            if running.get_name() == name:
                return
            running.cancel()  # the meter's row belongs to a newer request or round now
        self._driving.start(meter, job.record.partition, self._complete(job), name)

    async def _complete(self, job: Job) -> None:
        with tracing.tracer().start_as_current_span(
            f"bind forwarder {job.request.action}",
            context=tracing.from_record(job.record.headers),
            kind=tracing.CONSUMER,
            attributes={"gridhook.bind_id": job.request.bind_id},
        ):
            await self._drive_to_outcome(job)

    async def _drive_to_outcome(self, job: Job) -> None:
        request = job.request
        try:
            state, reason, reconciling = job.state, job.reason, job.reconciling
            if not job.finished:
                outcome = await self._driver.drive(
                    job, lambda attempts: self._binds.count_attempt(request, attempts)
                )
                if outcome.exhausted:
                    await self._dead_letter(job, outcome)
                await self._binds.finish(
                    request, outcome.state, outcome.reason, reconciling=outcome.reconcile
                )
                state, reason, reconciling = outcome.state, outcome.reason, outcome.reconcile
            if not (job.finished and job.published):
                await self._announce_final(job, state, reason)
            if reconciling:
                late = await self._driver.reconcile(job)
                if late is None:
                    await self._binds.stop_reconciling(request)
                else:
                    await self._binds.finish(request, late.state, late.reason)
                    await self._announce_final(job, late.state, late.reason)
                    log.info(
                        "bind reconciled after its deadline",
                        extra={"fields": {"bind_id": request.bind_id, "state": late.state}},
                    )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bind driving failed", extra={"fields": {"bind_id": request.bind_id}})

    async def _dead_letter(self, job: Job, outcome: Driven) -> None:
        error = BindExhausted(f"gave up: {outcome.reason}")
        record = dead_letter(job.record, error)
        await until_published(
            lambda: self._publisher.publish(job.record.topic + DLQ_SUFFIX, record)
        )

    async def _announce_final(self, job: Job, state: BindState, reason: str | None) -> None:
        outcome = final_outcome(job.request.action, state)
        await until_published(lambda: self._publish(job.request, outcome, state, reason, job.round))
        await self._binds.mark_published(job.request)
        log.info(
            "bind request finished",
            extra={"fields": {"bind_id": job.request.bind_id, "state": state, "reason": reason}},
        )

    async def _publish(
        self,
        request: BindRequest,
        outcome: Outcome,
        state: BindState | None,
        reason: str | None,
        round_: int,
    ) -> None:
        record = result_record(request, outcome=outcome, state=state, reason=reason, round_=round_)
        await self._publisher.publish(POWERBOX_BIND_RESULTS, record)
