"""Light's client-agent API as the orchestrator sees it: the `LightApi` protocol, the HTTP
client, and an in-memory twin for tests.

The client translates at the boundary: no answer, a timeout, a 429 or a 5xx is
`PartnerUnavailable` (retriable); any other 4xx is `PartnerRefused` with Light's error code as
`reason` (`{"error": {"code": ...}}`, or `http_<status>`). Light's clock is the `Date` header
of its answers: the orchestrator's "today" for the start-date window and for plan expiry.
Minting the account token the accept needs (**assumed**: no seed says how) is inside `accept`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson

from consumers.http_session import PartnerSession
from consumers.installations.rules import PricedPlan
from gridhook.contract import tracing
from gridhook.contract.errors import PartnerRefused, PartnerUnavailable

T = TypeVar("T")
StartFor = Callable[[date], date]
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclass(frozen=True)
class LightAccount:
    """What the orchestrator reads of an account, and Light's clock when it was read."""

    uuid: str
    status: str
    client_agent_accepted: bool
    location: dict[str, Any] | None
    now: datetime


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

    async def _call(
        self,
        method: str,
        path: str,
        name: str,
        payload: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> tuple[Any, datetime]:
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
        body = _json(raw)
        if status >= 400:
            code = _error_code(body, status)
            raise PartnerRefused(f"Light {name}: refused ({code})", code)
        return body, _light_now(date_header)


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


PLAN_DAYS = timedelta(days=7)


@dataclass
class _Account:
    status: str
    poa: bool = False
    location: dict[str, Any] | None = None


@dataclass
class InMemoryLight:
    """Light in memory, by its rules, for unit tests: `failures` are raised, one per call, by
    the calls named (`fail("plans/accept", error, after_work=True)` loses the answer of a call
    that did its work); `calls` logs every call and its outcome."""

    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    accounts: dict[str, _Account] = field(default_factory=dict)
    plans: dict[str, PricedPlan] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, Exception, bool]] = field(default_factory=list)
    plan_lifetime: timedelta = PLAN_DAYS

    def add_account(
        self, account_uuid: str, status: str = "enrollment_pending_client_agent"
    ) -> None:
        self.accounts[account_uuid] = _Account(status)

    def fail(self, call: str, error: Exception, *, after_work: bool = False) -> None:
        self.failures.append((call, error, after_work))

    def accepted(self) -> int:
        return sum(1 for call, outcome in self.calls if call == "plans/accept" and outcome == "ok")

    def _failure(self, call: str) -> tuple[Exception, bool] | None:
        for index, (name, error, after_work) in enumerate(self.failures):
            if name == call:
                del self.failures[index]
                return error, after_work
        return None

    async def _run(self, call: str, work: Callable[[], T]) -> T:
        failure = self._failure(call)
        if failure is not None and not failure[1]:
            self.calls.append((call, "failed"))
            raise failure[0]
        try:
            result = work()
        except PartnerRefused as refused:
            self.calls.append((call, refused.reason))
            raise
        self.calls.append((call, "ok"))
        if failure is not None:
            raise failure[0]
        return result

    def _get(self, account_uuid: str) -> _Account:
        if account_uuid not in self.accounts:
            raise PartnerRefused("Light: no such account", "account_not_found")
        return self.accounts[account_uuid]

    def _view(self, account_uuid: str) -> LightAccount:
        account = self._get(account_uuid)
        return LightAccount(
            account_uuid, account.status, account.poa, account.location, self.clock()
        )

    async def account(self, account_uuid: str) -> LightAccount:
        return await self._run("account", lambda: self._view(account_uuid))

    async def record_client_agent(self, account_uuid: str, accepted_at: str | None) -> None:
        def work() -> None:
            self._get(account_uuid).poa = True

        await self._run("record-client-agent", work)

    async def request_plans(
        self, account_uuid: str, esi_id: str
    ) -> tuple[list[PricedPlan], datetime]:
        def work() -> tuple[list[PricedPlan], datetime]:
            now = self.clock()
            expires = now + self.plan_lifetime
            fresh = [
                PricedPlan(f"plan-{len(self.plans) + i}", name, term, price, expires)
                for i, (name, term, price) in enumerate(
                    (("Flex", 1, 16.9), ("Simple 12", 12, 14.2), ("Saver 12", 12, 13.7))
                )
            ]
            self.plans.update({plan.uuid: plan for plan in fresh})
            return fresh, now

        return await self._run("plans/request", work)

    async def accept(
        self, account_uuid: str, plan_uuid: str, esi_id: str, start_for: StartFor
    ) -> LightAccount:
        def work() -> LightAccount:
            account = self._get(account_uuid)
            now = self.clock()
            start = start_for(now.date())
            if account.location is not None:
                raise PartnerRefused("Light: accepted already", "plan_already_accepted")
            if not account.poa:
                raise PartnerRefused("Light: no POA", "client_agent_not_recorded")
            plan = self.plans.get(plan_uuid)
            if plan is None:
                raise PartnerRefused("Light: no such plan", "plan_not_found")
            if plan.expires_at <= now:
                raise PartnerRefused("Light: plan expired", "plan_expired")
            if not now.date() + PLAN_DAYS <= start <= now.date() + timedelta(days=30):
                raise PartnerRefused("Light: start date", "invalid_service_start_date")
            account.location = {
                "uuid": f"loc-{account_uuid}",
                "plan_uuid": plan_uuid,
                "esi_id": esi_id,
                "service_start_date": start.isoformat(),
            }
            account.status = "enrollment_finalized"
            return self._view(account_uuid)

        return await self._run("plans/accept", work)
