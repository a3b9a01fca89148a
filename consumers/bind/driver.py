"""Taking one bind request to its outcome at the head-end, however long the HAN takes.

A HAN join takes minutes to 48 hours. The driver submits the request (the head-end is
idempotent on the bind id, so submitting again is safe), reads its status with a growing wait
(from 1 s up to `GRIDHOOK_BIND_POLL_MAX`) until the head-end reports an outcome, and:

- retries a head-end that does not answer (5xx, timeouts) with exponential backoff and jitter,
  until the deadline;
- submits again after a transient join failure (the meter's radio unreachable): at most
  `GRIDHOOK_BIND_MAX_ATTEMPTS` submissions in all, each counted durably before it is made (a
  forwarder that restarts counts its re-submission as one);
- at the deadline (`GRIDHOOK_BIND_DEADLINE` after the request was admitted, 48 h by default)
  gives up with `deadline_passed`, and keeps reading the status (`reconcile`): a device that
  joins later is reported, so gridhook never contradicts the head-end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from consumers.bind.gateway import FAILED, JOINED, LEFT, PENDING, Gateway, GatewayStatus
from gridhook.contract.errors import GatewayRejected, GatewayUnavailable
from gridhook.contract.retries import retried, retrying
from gridhook.contract.settings import BindSettings
from gridhook.state.binds import HEAD_END_REASONS, BindAction, BindRequest, BindState, Reason
from gridhook.state.meter_binds import Job

FIRST_POLL = 1.0
RESUBMIT_FIRST_WAIT = 0.5
"""Seconds before submitting again after a transient join failure (doubling after each)."""


@dataclass(frozen=True)
class Driven:
    """The meter's bind state after a request and the reason of a failure; `exhausted` when
    the request is to be dead-lettered (retries or time ran out), `reconcile` when a later word
    of the head-end is still awaited."""

    state: BindState
    reason: str | None
    exhausted: bool = False
    reconcile: bool = False


class BindDriver:
    """Drives requests through a `Gateway`. `clock` is wall time (deadlines survive restarts)."""

    def __init__(
        self,
        gateway: Gateway,
        settings: BindSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._gateway = gateway
        self._settings = settings
        self._clock = clock
        self._first_poll = min(FIRST_POLL, settings.poll_max)

    async def drive(self, job: Job, count_attempt: Callable[[int], Awaitable[None]]) -> Driven:
        """Submit the job's request until the head-end reports an outcome or the deadline."""
        attempts = job.attempts
        retries = retrying(
            self._settings.backoff_max,
            first=RESUBMIT_FIRST_WAIT,
            when=lambda error: isinstance(error, _FailedTransiently),
        )
        try:
            async for retry in retries:
                with retry:
                    if attempts >= self._settings.max_attempts:
                        break
                    # Counted before it is made: a crash never lets an attempt go uncounted.
                    attempts += 1
                    await count_attempt(attempts)
                    return await self._attempt(job)
        except _FailedTransiently:
            pass
        return Driven(job.request.action.failed, Reason.METER_UNREACHABLE, exhausted=True)

    async def _attempt(self, job: Job) -> Driven:
        """One submission, followed to its outcome; `_FailedTransiently` when the join failed
        in a way another submission may fix (the meter's radio unreachable)."""
        request = job.request
        try:
            async with asyncio.timeout(max(0.0, job.deadline_at - self._clock())):
                status = await self._submit(request)
                status = await self._until_decided(request, status)
        except TimeoutError:
            failed = request.action.failed
            return Driven(failed, Reason.DEADLINE_PASSED, exhausted=True, reconcile=True)
        except GatewayRejected:
            return Driven(request.action.failed, Reason.GATEWAY_REJECTED)
        if status.status == FAILED and status.transient:
            raise _FailedTransiently
        return _decided(request, status)

    async def reconcile(self, job: Job) -> Driven | None:
        """After the deadline: wait for the head-end's last word on the request. The state to
        publish when it contradicts the failure already published (the device joined, or left,
        after all); None when it agrees or the head-end forgot the request."""
        request = job.request
        delay = self._first_poll
        while True:
            try:
                status = await self._gateway.status(request.bind_id, request.meter_id)
            except GatewayRejected:
                return None
            except GatewayUnavailable:
                status = GatewayStatus(PENDING, None, False)
            if status.status != PENDING:
                if status.status == JOINED and request.action is BindAction.BIND:
                    return Driven(BindState.BOUND, None)
                if status.status == LEFT and request.action is BindAction.UNBIND:
                    return Driven(BindState.UNBOUND, None)
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._settings.poll_max)

    async def _submit(self, request: BindRequest) -> GatewayStatus:
        """Hand the request to the head-end, retrying while it does not answer."""
        return await retried(
            lambda: self._gateway.submit(
                request.bind_id,
                request.meter_id,
                request.mac,
                request.install_code,
                str(request.action),
            ),
            self._settings.backoff_max,
            when=lambda error: isinstance(error, GatewayUnavailable),
        )

    async def _until_decided(self, request: BindRequest, status: GatewayStatus) -> GatewayStatus:
        """Read the status with a growing wait until it is no longer pending."""
        delay = self._first_poll
        while status.status == PENDING:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._settings.poll_max)
            try:
                status = await self._gateway.status(request.bind_id, request.meter_id)
            except GatewayUnavailable:
                continue
        return status


def _decided(request: BindRequest, status: GatewayStatus) -> Driven:
    if status.status == JOINED:
        return Driven(BindState.BOUND, None)
    if status.status == LEFT:
        return Driven(BindState.UNBOUND, None)
    if request.action is BindAction.UNBIND and status.reason == Reason.NOT_JOINED:
        return Driven(BindState.UNBOUND, Reason.NOT_JOINED)
    known = status.reason in HEAD_END_REASONS
    return Driven(request.action.failed, status.reason if known else Reason.GATEWAY_FAILED)


class _FailedTransiently(Exception):
    """The head-end says the join failed, and that another submission may succeed."""
