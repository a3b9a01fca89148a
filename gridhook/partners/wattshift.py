"""WattShift's onboarding API as the orchestrator sees it: the `WattShiftApi` protocol, the
HTTP client (`x-ws-api-key`), and an in-memory twin for tests.

Errors are translated as for Light: no answer, a timeout, a 429 or a 5xx is
`PartnerUnavailable`; another 4xx is `PartnerRefused` with WattShift's error code. `homes/create`
sends an `Idempotency-Key` (the installation id) so that a retry after a lost answer returns
the home made the first time (**assumed**: seed 001 names no such header; the emulator honours
it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

from gridhook.contract import tracing
from gridhook.contract.errors import PartnerRefused, PartnerUnavailable
from gridhook.partners.http_session import PartnerSession

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclass(frozen=True)
class Utility:
    utility_id: str
    name: str
    rate_plans: tuple[tuple[str, str], ...]  # (id, name): ids are not guaranteed unique


class WattShiftApi(Protocol):
    async def utilities(self, zipcode: str) -> list[Utility]: ...

    async def create_home(
        self, idempotency_key: str, name: str, zipcode: str, utility_id: str, rate_plan_id: str
    ) -> str: ...

    async def add_solar(self, home_id: str, size_kw: float, non_net_metered: bool) -> None: ...


class WattShiftClient(PartnerSession):
    """WattShift's API over HTTP; one session, closed by `async with`."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        super().__init__(base_url, timeout)
        self._api_key = api_key

    async def utilities(self, zipcode: str) -> list[Utility]:
        body = await self._call("/v1/utility/get", "utility/get", {"zipcode": zipcode})
        try:
            return [
                Utility(
                    str(raw["utilityId"]),
                    str(raw["utilityName"]),
                    tuple((str(p["id"]), str(p["ratePlanName"])) for p in raw["wsRatePlans"]),
                )
                for raw in body
            ]
        except (KeyError, TypeError):
            raise PartnerUnavailable("WattShift utility/get: unusable answer") from None

    async def create_home(
        self, idempotency_key: str, name: str, zipcode: str, utility_id: str, rate_plan_id: str
    ) -> str:
        payload = {
            "name": name,
            "zipcode": zipcode,
            "utilityId": utility_id,
            "ratePlanId": rate_plan_id,
        }
        body = await self._call(
            "/v1/homes/create", "homes/create", payload, {"Idempotency-Key": idempotency_key}
        )
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise PartnerUnavailable("WattShift homes/create: no home id in the answer")
        return str(body["id"])

    async def add_solar(self, home_id: str, size_kw: float, non_net_metered: bool) -> None:
        payload = {
            "homeId": home_id,
            "solarSystemSizeKw": size_kw,
            "isNonNetMetered": non_net_metered,
        }
        await self._call("/v1/homes/solar/create", "homes/solar/create", payload)

    async def _call(
        self,
        path: str,
        name: str,
        payload: dict[str, Any],
        extra: dict[str, str] | None = None,
    ) -> Any:
        if self._api_key is None:
            raise PartnerRefused(f"WattShift {name}: no client key configured", "no_client_key")
        headers = {
            "x-ws-api-key": self._api_key,
            "Content-Type": "application/json",
            **tracing.to_http(),
            **(extra or {}),
        }
        try:
            async with self.session.post(
                self.url(path), data=orjson.dumps(payload), headers=headers
            ) as reply:
                raw, status = await reply.read(), reply.status
        except (aiohttp.ClientError, TimeoutError):
            raise PartnerUnavailable(f"WattShift {name}: no answer") from None
        if status == 429 or status >= 500:
            raise PartnerUnavailable(f"WattShift {name}: HTTP {status}")
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        if status >= 400:
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            reason = code if isinstance(code, str) and _CODE.match(code) else f"http_{status}"
            raise PartnerRefused(f"WattShift {name}: refused ({reason})", reason)
        return body
