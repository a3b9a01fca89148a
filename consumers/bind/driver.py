"""Taking one bind request to its outcome at the head-end: submit, wait for the join, retry
what is transient.

The head-end is idempotent on the bind id, so a request is submitted again after a transient
failure (an unreachable radio, a 5xx, a timeout) with exponential backoff and jitter, at most
`GRIDHOOK_BIND_MAX_ATTEMPTS` times and for at most `GRIDHOOK_BIND_MAX_SECONDS` in all.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from consumers.bind.gateway import JOINED, LEFT, PENDING, Gateway, GatewayStatus
from consumers.bind.requests import BindRequest
from gridhook.contract.errors import GatewayRejected, GatewayUnavailable
from gridhook.contract.settings import BindSettings
from gridhook.state.bind_rules import BIND

POLL_FIRST, POLL_MAX = 0.2, 5.0


@dataclass(frozen=True)
class Outcome:
    """The meter's bind state after a request, the reason of a failure, and whether the request
    exhausted its retries (it is then dead-lettered)."""

    state: str
    reason: str | None
    exhausted: bool


class _Transient(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BindDriver:
    """Drives requests through a `Gateway`."""

    def __init__(
        self,
        gateway: Gateway,
        settings: BindSettings,
        poll_first: float = POLL_FIRST,
        poll_max: float = POLL_MAX,
    ) -> None:
        self._gateway = gateway
        self._settings = settings
        self._poll_first = poll_first
        self._poll_max = poll_max

    async def outcome(self, request: BindRequest) -> Outcome:
        """Submit `request` and wait for its verdict, retrying transient failures."""
        bind = request.action == BIND
        failed = "bind_failed" if bind else "bound"  # a failed unbind leaves the device on
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
            return Outcome(failed, reason, exhausted=True)
        except GatewayRejected:
            return Outcome(failed, "gateway_rejected", exhausted=False)
        if status.status == JOINED:
            return Outcome("bound", None, exhausted=False)
        if status.status == LEFT:
            return Outcome("unbound", None, exhausted=False)
        if not bind and status.reason == "not_joined":
            return Outcome("unbound", "not_joined", exhausted=False)
        return Outcome(failed, status.reason or "failed", exhausted=False)

    async def _attempt(self, request: BindRequest) -> GatewayStatus:
        """Submit once and wait for the head-end's verdict; `_Transient` when worth retrying."""
        try:
            status = await self._gateway.submit(
                request.bind_id, request.meter_id, request.mac, request.install_code, request.action
            )
        except GatewayUnavailable:
            raise _Transient("gateway_unavailable") from None
        delay = self._poll_first
        while status.status == PENDING:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._poll_max)
            with contextlib.suppress(GatewayUnavailable):
                status = await self._gateway.status(request.bind_id)
        if status.status == "failed" and status.transient:
            raise _Transient(status.reason or "transient_failure")
        return status
