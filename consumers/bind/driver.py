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
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from consumers.bind.arbiter import Job
from consumers.bind.gateway import FAILED, JOINED, LEFT, PENDING, Gateway, GatewayStatus
from consumers.bind.requests import BindRequest
from gridhook.contract import bind_results
from gridhook.contract.errors import GatewayRejected, GatewayUnavailable
from gridhook.contract.settings import BindSettings
from gridhook.state.bind_rules import BIND

FIRST_POLL = 1.0


@dataclass(frozen=True)
class Outcome:
    """The meter's bind state after a request and the reason of a failure; `exhausted` when
    the request is to be dead-lettered (retries or time ran out), `reconcile` when a later word
    of the head-end is still awaited."""

    state: str
    reason: str | None
    exhausted: bool = False
    reconcile: bool = False


def final_outcome(action: str, state: str) -> str:
    """The result outcome a request ending with the meter in `state` publishes."""
    if action == BIND:
        return bind_results.BOUND if state == "bound" else bind_results.FAILED
    return bind_results.UNBOUND if state == "unbound" else bind_results.FAILED


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

    async def drive(self, job: Job, count_attempt: Callable[[int], Awaitable[None]]) -> Outcome:
        """Submit the job's request until the head-end reports an outcome or the deadline."""
        request = job.request
        failed = "bind_failed" if request.action == BIND else "bound"  # an unbind leaves it on
        attempts = job.attempts
        while True:
            if attempts >= self._settings.max_attempts:
                return Outcome(failed, bind_results.METER_UNREACHABLE, exhausted=True)
            # Counted before it is made: a crash never lets an attempt go uncounted.
            attempts += 1
            await count_attempt(attempts)
            remaining = job.deadline_at - self._clock()
            try:
                async with asyncio.timeout(max(0.0, remaining)):
                    status = await self._submit(request)
                    status = await self._until_decided(request, status)
            except TimeoutError:
                return Outcome(failed, bind_results.DEADLINE_PASSED, exhausted=True, reconcile=True)
            except GatewayRejected:
                return Outcome(failed, bind_results.GATEWAY_REJECTED)
            if status.status == FAILED and status.transient:
                await asyncio.sleep(_backoff(attempts, self._settings.backoff_max))
                continue
            return _decided(request, status, failed)

    async def reconcile(self, job: Job) -> Outcome | None:
        """After the deadline: wait for the head-end's last word on the request. The state to
        publish when it contradicts the failure already published (the device joined, or left,
        after all); None when it agrees or the head-end forgot the request."""
        request = job.request
        delay = self._first_poll
        while True:
            try:
                status = await self._gateway.status(request.bind_id)
            except GatewayRejected:
                return None
            except GatewayUnavailable:
                status = GatewayStatus(PENDING, None, False)
            if status.status != PENDING:
                if status.status == JOINED and request.action == BIND:
                    return Outcome("bound", None)
                if status.status == LEFT and request.action != BIND:
                    return Outcome("unbound", None)
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._settings.poll_max)

    async def _submit(self, request: BindRequest) -> GatewayStatus:
        """Hand the request to the head-end, retrying while it does not answer."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(GatewayUnavailable),
            wait=wait_exponential_jitter(multiplier=0.2, max=self._settings.backoff_max),
            reraise=True,
        ):
            with attempt:
                return await self._gateway.submit(
                    request.bind_id,
                    request.meter_id,
                    request.mac,
                    request.install_code,
                    request.action,
                )
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _until_decided(self, request: BindRequest, status: GatewayStatus) -> GatewayStatus:
        """Read the status with a growing wait until it is no longer pending."""
        delay = self._first_poll
        while status.status == PENDING:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._settings.poll_max)
            try:
                status = await self._gateway.status(request.bind_id)
            except GatewayUnavailable:
                continue
        return status


def _decided(request: BindRequest, status: GatewayStatus, failed: str) -> Outcome:
    if status.status == JOINED:
        return Outcome("bound", None)
    if status.status == LEFT:
        return Outcome("unbound", None)
    if request.action != BIND and status.reason == bind_results.NOT_JOINED:
        return Outcome("unbound", bind_results.NOT_JOINED)
    reason = status.reason if status.reason in bind_results.HEAD_END_REASONS else None
    return Outcome(failed, reason or bind_results.GATEWAY_FAILED)


def _backoff(attempt: int, cap: float) -> float:
    """Exponential from 0.5 s, capped, with full jitter over its upper half."""
    return float(min(cap, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))
