"""In-memory twins of gridhook's I/O interfaces, for unit tests: the publisher and Kafka's end
offsets, the AMI head-end, Light's and WattShift's APIs. Each keeps what it was asked and can
be told to fail, stall or answer late, so a test can put the code under it in any situation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from consumers.bind.gateway import FAILED, JOINED, LEFT, PENDING, GatewayStatus
from gridhook.contract.codec import EncodedRecord
from gridhook.contract.errors import (
    GatewayRejected,
    GatewayUnavailable,
    GridhookError,
    PartnerRefused,
)
from gridhook.kafka.publisher import Delivery
from gridhook.partners.light import LightAccount, PricedPlan, StartFor
from gridhook.partners.wattshift import Utility

T = TypeVar("T")


@dataclass
class InMemoryPublisher:
    """A `Publisher` for unit tests: keeps what it published; can be told to fail or stall."""

    records: list[tuple[str, EncodedRecord]] = field(default_factory=list)
    failure: GridhookError | None = None
    stall: asyncio.Event | None = None
    started: bool = False
    _acknowledging: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def ready(self) -> bool:
        return self.started

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, topic: str, record: EncodedRecord) -> Delivery:
        return await (await self.send(topic, record))

    async def send(self, topic: str, record: EncodedRecord) -> asyncio.Future[Delivery]:
        delivery: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()

        async def acknowledge() -> None:
            if self.stall is not None:
                await self.stall.wait()
            if self.failure is not None:
                delivery.set_exception(self.failure)
                return
            self.records.append((topic, record))
            offset = sum(1 for published, _ in self.records if published == topic) - 1
            delivery.set_result(Delivery(topic=topic, partition=0, offset=offset))

        self._acknowledging.add(task := asyncio.create_task(acknowledge()))
        task.add_done_callback(self._acknowledging.discard)
        return delivery

    async def send_many(self, topic: str, records: Sequence[EncodedRecord]) -> int:
        for record in records:
            await self.publish(topic, record)
        return len(records)

    def published(self, topic: str) -> list[EncodedRecord]:
        """The records published to `topic`, in order."""
        return [record for published, record in self.records if published == topic]


@dataclass
class InMemoryEndOffsets:
    """An `EndOffsets` for unit tests: `ends[topic]` is what `of(topic)` answers; `asked`
    counts the calls."""

    ends: dict[str, dict[int, int]] = field(default_factory=dict)
    asked: int = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def of(self, topic: str) -> dict[int, int]:
        self.asked += 1
        return dict(self.ends.get(topic, {}))


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

    async def status(self, bind_id: str, meter_id: str) -> GatewayStatus:
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


PLAN_DAYS = timedelta(days=7)


@dataclass
class _Account:
    status: str
    poa: bool = False
    location: dict[str, Any] | None = None


@dataclass
class _Failures:
    """Failures a partner twin raises, once each, from the call they name: `fail("plans/accept",
    error, after_work=True)` loses the answer of a call that did its work."""

    failures: list[tuple[str, Exception, bool]] = field(default_factory=list)

    def fail(self, call: str, error: Exception, *, after_work: bool = False) -> None:
        self.failures.append((call, error, after_work))

    def _failure(self, call: str) -> tuple[Exception, bool] | None:
        for index, (name, error, after_work) in enumerate(self.failures):
            if name == call:
                del self.failures[index]
                return error, after_work
        return None


@dataclass
class InMemoryLight(_Failures):
    """Light in memory, by its rules, for unit tests: `failures` are raised, one per call, by
    the calls named (`fail("plans/accept", error, after_work=True)` loses the answer of a call
    that did its work); `calls` logs every call and its outcome."""

    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    accounts: dict[str, _Account] = field(default_factory=dict)
    plans: dict[str, PricedPlan] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    plan_lifetime: timedelta = PLAN_DAYS

    def add_account(
        self, account_uuid: str, status: str = "enrollment_pending_client_agent"
    ) -> None:
        self.accounts[account_uuid] = _Account(status)

    def accepted(self) -> int:
        return sum(1 for call, outcome in self.calls if call == "plans/accept" and outcome == "ok")

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


@dataclass
class InMemoryWattShift(_Failures):
    """WattShift in memory for unit tests: Texas zips have one utility; `homes/create` honours
    the idempotency key; `failures` are raised once each by the call they name."""

    homes: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    solar: dict[str, float] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def utilities(self, zipcode: str) -> list[Utility]:
        self.calls.append("utility/get")
        failure = self._failure("utility/get")
        if failure is not None:
            raise failure[0]
        if not zipcode.startswith("7"):
            return []
        return [Utility("oncor", "Oncor", (("rp_tou_1", "Time of Use"),))]

    async def create_home(
        self, idempotency_key: str, name: str, zipcode: str, utility_id: str, rate_plan_id: str
    ) -> str:
        self.calls.append("homes/create")
        failure = self._failure("homes/create")
        if failure is not None and not failure[1]:
            raise failure[0]
        home_id = self.keys.get(idempotency_key)
        if home_id is None:
            home_id = f"ws_home_{len(self.homes) + 1}"
            self.keys[idempotency_key] = home_id
            self.homes[home_id] = {
                "name": name,
                "utilityId": utility_id,
                "ratePlanId": rate_plan_id,
            }
        if failure is not None:
            raise failure[0]
        return home_id

    async def add_solar(self, home_id: str, size_kw: float, non_net_metered: bool) -> None:
        self.calls.append("homes/solar/create")
        failure = self._failure("homes/solar/create")
        if failure is not None:
            raise failure[0]
        if home_id not in self.homes:
            raise PartnerRefused("WattShift: no such home", "home_not_found")
        self.solar[home_id] = size_kw
