"""The AMI head-end behind a narrow interface: `Gateway`, its HTTP client and an in-memory twin.

The HTTP client translates failures at this boundary: connection errors, timeouts and 5xx
become the retriable `GatewayUnavailable`; other 4xx the permanent `GatewayRejected`. Both
implementations are idempotent on the bind id, as the head-end is: submitting a known request
again never joins its device a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson

from consumers.http_session import PartnerSession
from gridhook.contract import tracing
from gridhook.contract.errors import GatewayRejected, GatewayUnavailable

PENDING, JOINED, LEFT, FAILED = "pending", "joined", "left", "failed"


@dataclass(frozen=True)
class GatewayStatus:
    """What the head-end says of one request: `pending`, `joined`, `left` or `failed` (with a
    reason, and whether trying again may help)."""

    status: str
    reason: str | None
    transient: bool


class Gateway(Protocol):
    """Submits bind and unbind requests and reads their status."""

    async def submit(
        self, bind_id: str, meter_id: str, mac: str, install_code: str, action: str
    ) -> GatewayStatus:
        """Hand a request to the head-end (again, safely); its status right after."""
        ...

    async def status(self, bind_id: str) -> GatewayStatus:
        """The current status of a submitted request."""
        ...


class GatewayClient(PartnerSession):
    """The head-end's HTTP API (`GRIDHOOK_GATEWAY_URL`); use as an async context manager."""

    async def submit(
        self, bind_id: str, meter_id: str, mac: str, install_code: str, action: str
    ) -> GatewayStatus:
        body = {
            "meterId": meter_id,
            "macAddress": mac,
            "installCode": install_code,
            "action": action,
        }
        return await self._call("PUT", f"/v1/requests/{bind_id}", orjson.dumps(body))

    async def status(self, bind_id: str) -> GatewayStatus:
        return await self._call("GET", f"/v1/requests/{bind_id}", None)

    async def _call(self, method: str, path: str, body: bytes | None) -> GatewayStatus:
        with tracing.tracer().start_as_current_span(
            f"head-end {method} /v1/requests/{{bind_id}}", kind=tracing.CLIENT
        ):
            return await self._traced_call(method, path, body)

    async def _traced_call(self, method: str, path: str, body: bytes | None) -> GatewayStatus:
        headers = tracing.to_http()
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, self.url(path), data=body, headers=headers
            ) as response:
                if response.status >= 500:
                    raise GatewayUnavailable(f"head-end answered {response.status}")
                if response.status >= 400:
                    raise GatewayRejected(f"head-end refused the request ({response.status})")
                answer: dict[str, Any] = await response.json(loads=orjson.loads)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise GatewayUnavailable(f"head-end unreachable: {type(error).__name__}") from error
        return GatewayStatus(
            status=str(answer["status"]),
            reason=answer.get("reason"),
            transient=bool(answer.get("transient")),
        )


@dataclass
class _Request:
    meter_id: str
    mac: str
    action: str
    status: GatewayStatus
    polls_left: int


@dataclass
class InMemoryGateway:
    """A `Gateway` for unit tests. Each request stays pending for `polls` status reads, then
    ends as `outcome(request)` says (joined or left by default). `unavailable` makes the next
    that many calls fail as a 5xx would. `submissions` counts submits per bind id and
    `joins` counts the devices joined per meter, to show that none was joined twice."""

    polls: int = 1
    outcome: Any = None
    unavailable: int = 0
    submissions: dict[str, int] = field(default_factory=dict)
    joins: dict[tuple[str, str], int] = field(default_factory=dict)
    devices: dict[str, set[str]] = field(default_factory=dict)
    _requests: dict[str, _Request] = field(default_factory=dict)

    async def submit(
        self, bind_id: str, meter_id: str, mac: str, install_code: str, action: str
    ) -> GatewayStatus:
        self._fail_if_unavailable()
        self.submissions[bind_id] = self.submissions.get(bind_id, 0) + 1
        known = self._requests.get(bind_id)
        if known is not None and not (known.status.status == FAILED and known.status.transient):
            return known.status
        pending = GatewayStatus(PENDING, None, False)
        self._requests[bind_id] = _Request(meter_id, mac, action, pending, self.polls)
        return pending

    async def status(self, bind_id: str) -> GatewayStatus:
        self._fail_if_unavailable()
        request = self._requests.get(bind_id)
        if request is None:
            raise GatewayRejected("head-end refused the request (404)")
        if request.status.status == PENDING:
            if request.polls_left > 0:
                request.polls_left -= 1
            else:
                request.status = self._finish(request)
        return request.status

    def release(self) -> None:
        """Let every pending request finish at its next status read, and later ones at once."""
        self.polls = 0
        for request in self._requests.values():
            request.polls_left = 0

    def _finish(self, request: _Request) -> GatewayStatus:
        if self.outcome is not None:
            decided: GatewayStatus = self.outcome(request)
            if decided.status != JOINED:
                return decided
        devices = self.devices.setdefault(request.meter_id, set())
        if request.action == "unbind":
            if request.mac not in devices:
                return GatewayStatus(FAILED, "not_joined", False)
            devices.discard(request.mac)
            return GatewayStatus(LEFT, None, False)
        if request.mac not in devices:
            devices.add(request.mac)
            key = (request.meter_id, request.mac)
            self.joins[key] = self.joins.get(key, 0) + 1
        return GatewayStatus(JOINED, None, False)

    def _fail_if_unavailable(self) -> None:
        if self.unavailable > 0:
            self.unavailable -= 1
            raise GatewayUnavailable("head-end answered 503")
