"""Light's API as gridhook's consumers see it: the client-agent calls the orchestrator makes
(`LightApi`), the usage the usage fetcher reads (`LightUsageApi`), and the HTTP client of both
(its in-memory twins are in tests/support).

The client translates at the boundary: no answer, a timeout, a 429 or a 5xx is
`PartnerUnavailable` (retriable); any other 4xx is `PartnerRefused` with Light's error code as
`reason` (`{"error": {"code": ...}}`, or `http_<status>`). Light's clock is the `Date` header
of its answers: the orchestrator's "today" for the start-date window and for plan expiry.
Minting the account token the accept needs (**assumed**: no seed says how) is inside `accept`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson

from gridhook.contract import tracing
from gridhook.contract.errors import PartnerRefused, PartnerUnavailable
from gridhook.partners.http_session import PartnerSession

T = TypeVar("T")
StartFor = Callable[[date], date]
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclass(frozen=True)
class PricedPlan:
    """A plan Light priced for the account, valid until `expires_at` (Light's clock)."""

    uuid: str
    name: str
    term_months: int
    price: float
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "termMonths": self.term_months,
            "price": self.price,
            "expiresAt": self.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PricedPlan:
        return cls(
            raw["uuid"],
            raw["name"],
            int(raw["termMonths"]),
            float(raw["price"]),
            datetime.fromisoformat(raw["expiresAt"]),
        )


@dataclass(frozen=True)
class LightAccount:
    """What the orchestrator reads of an account, and Light's clock when it was read."""

    uuid: str
    status: str
    client_agent_accepted: bool
    location: dict[str, Any] | None
    now: datetime


@dataclass(frozen=True)
class LightUsage:
    """A location's 15-minute usage as Light gave it (interval start, kWh imported), and
    Light's clock when it did."""

    intervals: list[tuple[datetime, float]]
    now: datetime


@dataclass(frozen=True)
class LightInvoice:
    """An invoice as Light's billing API gives it (Light is their system of record)."""

    uuid: str
    period_start: str
    period_end: str
    amount_due_cents: int
    currency: str
    due_date: str
    status: str

    @classmethod
    def of(cls, raw: dict[str, Any]) -> LightInvoice:
        return cls(
            str(raw["uuid"]),
            str(raw["period_start"]),
            str(raw["period_end"]),
            int(raw["amount_due_cents"]),
            str(raw.get("currency") or "USD"),
            str(raw["due_date"]),
            str(raw["status"]),
        )


class LightBillingApi(Protocol):
    async def invoices(self, account_uuid: str) -> list[LightInvoice]:
        """The account's invoices, with its account token."""
        ...

    async def invoice_pdf(self, account_uuid: str, invoice_uuid: str) -> bytes:
        """One invoice's PDF; `PartnerRefused` (`invoice_not_found`) for another account's."""
        ...


class LightUsageApi(Protocol):
    async def usage(
        self, account_uuid: str, location_uuid: str, first: date, last: date
    ) -> LightUsage:
        """The usage Light has from day `first` to day `last` (inclusive), with the location's
        account token."""
        ...


class LightApi(Protocol):
    async def account(self, account_uuid: str) -> LightAccount: ...

    async def record_client_agent(self, account_uuid: str, accepted_at: str | None) -> None: ...

    async def request_plans(
        self, account_uuid: str, esi_id: str
    ) -> tuple[list[PricedPlan], datetime]: ...

    async def accept(
        self, account_uuid: str, plan_uuid: str, esi_id: str, start_for: StartFor
    ) -> LightAccount:
        """Accept the plan with the start date `start_for` gives for Light's today, read as
        late as possible (when the account token is minted), so that a day boundary passing
        meanwhile does not push the date out of Light's window."""
        ...


def _account(raw: dict[str, Any], now: datetime) -> LightAccount:
    locations = raw.get("locations") or []
    return LightAccount(
        uuid=str(raw["uuid"]),
        status=str(raw.get("status")),
        client_agent_accepted=bool(raw.get("client_agent_accepted")),
        location=dict(locations[0]) if locations else None,
        now=now,
    )


def _plan(raw: dict[str, Any]) -> PricedPlan:
    return PricedPlan(
        uuid=str(raw["uuid"]),
        name=str(raw["name"]),
        term_months=int(raw["term_months"]),
        price=float(raw["price_cents_per_kwh"]),
        expires_at=datetime.fromisoformat(str(raw["expires_at"]).replace("Z", "+00:00")),
    )


class LightClient(PartnerSession):
    """Light's API over HTTP, with the app token; one session, closed by `async with`."""

    def __init__(self, base_url: str, app_token: str | None, timeout: float) -> None:
        super().__init__(base_url, timeout)
        self._app_token = app_token

    async def account(self, account_uuid: str) -> LightAccount:
        body, now = await self._call("GET", f"/v1/app/accounts/{account_uuid}", "account")
        return _account(body, now)

    async def record_client_agent(self, account_uuid: str, accepted_at: str | None) -> None:
        payload = {} if accepted_at is None else {"client_agent_accepted_at": accepted_at}
        path = f"/v1/app/accounts/{account_uuid}/record-client-agent"
        await self._call("POST", path, "record-client-agent", payload)

    async def request_plans(
        self, account_uuid: str, esi_id: str
    ) -> tuple[list[PricedPlan], datetime]:
        path = f"/v1/app/accounts/{account_uuid}/enroll/plans/request"
        body, now = await self._call("POST", path, "plans/request", {"esi_id": esi_id})
        try:
            return [_plan(raw) for raw in body["plans"]], now
        except (KeyError, TypeError, ValueError):
            raise PartnerUnavailable("Light answered plans/request with no usable plans") from None

    async def accept(
        self, account_uuid: str, plan_uuid: str, esi_id: str, start_for: StartFor
    ) -> LightAccount:
        path = f"/v1/app/accounts/{account_uuid}/tokens"
        minted, light_now = await self._call("POST", path, "tokens")
        payload = {
            "plan_uuid": plan_uuid,
            "esi_id": esi_id,
            "service_start_date": start_for(light_now.date()).isoformat(),
            "terms_accepted": True,
        }
        body, now = await self._call(
            "POST", "/v1/account/enroll/plans/accept", "plans/accept", payload, minted["token"]
        )
        return _account(body, now)

    async def usage(
        self, account_uuid: str, location_uuid: str, first: date, last: date
    ) -> LightUsage:
        token = await self._account_token(account_uuid)
        query = f"start_date={first.isoformat()}&end_date={last.isoformat()}"
        path = f"/v1/account/locations/{location_uuid}/usage?{query}"
        body, now = await self._call("GET", path, "usage", None, token)
        try:
            intervals = [
                (
                    datetime.fromisoformat(str(raw["start"]).replace("Z", "+00:00")),
                    float(raw["kwh"]),
                )
                for raw in body["intervals"]
            ]
        except (KeyError, TypeError, ValueError):
            raise PartnerUnavailable("Light answered usage with no usable intervals") from None
        return LightUsage(intervals, now)

    async def invoices(self, account_uuid: str) -> list[LightInvoice]:
        token = await self._account_token(account_uuid)
        body, _ = await self._call("GET", "/v1/account/billing/invoices", "invoices", None, token)
        try:
            return [LightInvoice.of(raw) for raw in body["invoices"]]
        except (KeyError, TypeError, ValueError):
            raise PartnerUnavailable("Light answered invoices with no usable list") from None

    async def invoice_pdf(self, account_uuid: str, invoice_uuid: str) -> bytes:
        token = await self._account_token(account_uuid)
        path = f"/v1/account/billing/invoices/{invoice_uuid}/pdf"
        raw, _ = await self._request("GET", path, "invoice pdf", None, token)
        return raw

    async def _account_token(self, account_uuid: str) -> str:
        minted, _ = await self._call("POST", f"/v1/app/accounts/{account_uuid}/tokens", "tokens")
        return str(minted["token"])

    async def _call(
        self,
        method: str,
        path: str,
        name: str,
        payload: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> tuple[Any, datetime]:
        raw, now = await self._request(method, path, name, payload, token)
        return _json(raw), now

    async def _request(
        self,
        method: str,
        path: str,
        name: str,
        payload: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> tuple[bytes, datetime]:
        credential = token or self._app_token
        if credential is None:
            raise PartnerRefused(f"Light {name}: no app token configured", "no_app_token")
        headers = {
            "Authorization": f"Bearer {credential}",
            "Content-Type": "application/json",
            **tracing.to_http(),
        }
        data = None if payload is None else orjson.dumps(payload)
        try:
            async with self.session.request(
                method, self.url(path), data=data, headers=headers
            ) as reply:
                raw = await reply.read()
                status, date_header = reply.status, reply.headers.get("Date")
        except (aiohttp.ClientError, TimeoutError):
            raise PartnerUnavailable(f"Light {name}: no answer") from None
        if status == 429 or status >= 500:
            raise PartnerUnavailable(f"Light {name}: HTTP {status}")
        if status >= 400:
            code = _error_code(_json(raw), status)
            raise PartnerRefused(f"Light {name}: refused ({code})", code)
        return raw, _light_now(date_header)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}


def _error_code(body: Any, status: int) -> str:
    """Light's error code when it is a plain code word (never echo anything else)."""
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if isinstance(code, str) and _CODE.match(code):
        return code
    return f"http_{status}"


def _light_now(header: str | None) -> datetime:
    if header:
        try:
            return parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)
