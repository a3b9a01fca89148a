"""HTTP client of the AMI head-end (the emulator in development).

Failures are translated at this boundary: connection errors, timeouts and 5xx become the
retriable `GatewayUnavailable`; other 4xx the permanent `GatewayRejected`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gridhook.errors import PermanentError, RetriableError


class GatewayUnavailable(RetriableError):
    """The head-end did not answer, timed out, or answered 5xx."""


class GatewayRejected(PermanentError):
    """The head-end refused the request itself (4xx)."""


@dataclass(frozen=True)
class GatewayStatus:
    status: str
    reason: str | None
    transient: bool


class GatewayClient:
    """Submits bind/unbind requests (idempotent on the bind id) and reads their status."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GatewayClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

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
        assert self._session is not None, "use GatewayClient as an async context manager"
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            async with self._session.request(
                method, self._base_url + path, data=body, headers=headers
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
