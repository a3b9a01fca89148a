"""The AMI head-end behind a narrow interface: `Gateway` and its HTTP client (an in-memory
twin for tests is `tests.support.fakes.InMemoryGateway`).

The HTTP client translates failures at this boundary: connection errors, timeouts and 5xx
become the retriable `GatewayUnavailable`; other 4xx the permanent `GatewayRejected`. Both
implementations are idempotent on the bind id, as the head-end is: submitting a known request
again never joins its device a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

from gridhook.contract import tracing
from gridhook.contract.errors import GatewayRejected, GatewayUnavailable
from gridhook.partners.http_session import PartnerSession

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
