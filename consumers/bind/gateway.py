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
from gridhook.contract.tenants import Registry, bare, unscoped
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

    async def status(self, bind_id: str, meter_id: str) -> GatewayStatus:
        """The current status of a submitted request (for `meter_id`)."""
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

    async def status(self, bind_id: str, meter_id: str) -> GatewayStatus:
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


class TenantGateways:
    """The head-end of each tenant: a bind goes to the head-end of its meter's tenant, with the
    meter as that utility knows it."""

    def __init__(self, registry: Registry, timeout: float) -> None:
        self._registry = registry
        self._timeout = timeout
        self._open: dict[tuple[str, int], GatewayClient] = {}

    async def _client(self, meter_id: str) -> tuple[GatewayClient, str, str]:
        tenant_id, meter = unscoped(meter_id, self._registry.current.ids())
        key = (tenant_id, self._registry.version)
        client = self._open.get(key)
        if client is None:
            tenant = self._registry.current.get(tenant_id)
            if tenant is None or tenant.powerbox is None:
                raise GatewayRejected(f"tenant {tenant_id} has no head-end")
            client = GatewayClient(tenant.powerbox.gateway_url, self._timeout)
            self._open[key] = await client.__aenter__()
        return client, tenant_id, meter

    async def submit(
        self, bind_id: str, meter_id: str, mac: str, install_code: str, action: str
    ) -> GatewayStatus:
        client, tenant_id, meter = await self._client(meter_id)
        return await client.submit(bare(bind_id, tenant_id), meter, mac, install_code, action)

    async def status(self, bind_id: str, meter_id: str) -> GatewayStatus:
        client, tenant_id, meter = await self._client(meter_id)
        return await client.status(bare(bind_id, tenant_id), meter)

    async def aclose(self) -> None:
        for client in self._open.values():
            await client.__aexit__(None, None, None)
        self._open.clear()
