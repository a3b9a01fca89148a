"""Taking one installation through its workflow, one durable step at a time.

Each step reads what it needs (Light's account, the meter's bind state and Light's webhooks as
the state applier recorded them), makes at most one change at a partner, and records where it
led before the next step begins (`gridhook.state.workflows`). A crash between two
steps resumes at the last one recorded; every step is safe to take again:

- the POA is recorded only when Light's account does not show it;
- before every accept the account is read again: a plan it already holds (accepted before a
  crash, or before a timed-out answer) is adopted, never accepted a second time; an accept that
  got no answer is never retried blindly, only after that read;
- a priced plan that expired (by Light's clock, or Light says `plan_expired`) is requested
  again;
- WattShift's home is created with the installation id as its idempotency key, and its id is
  recorded before the solar system is added.

Transient failures (`PartnerUnavailable`, `StoreUnavailable`) are retried with exponential
backoff and jitter, capped at `GRIDHOOK_PARTNER_BACKOFF_MAX`; a partner's refusal
(`PartnerRefused`) stops the installation in `needs_attention` with the refusal's code as its
reason, except the refusals that mean "not yet" (`credit_check_frozen`,
`enrollment_incomplete`), which make it wait, and a start date refused because Light's day
turned during the call, which is tried again (three times at most) from a fresh reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

import orjson

from consumers.installations import rules
from consumers.outbox import until_published
from gridhook.contract.codec import CloudEvent, EncodedRecord, encode, format_time
from gridhook.contract.errors import PartnerRefused, RetriableError
from gridhook.contract.event_types import installation_step
from gridhook.contract.retries import backoff, retried
from gridhook.contract.settings import InstallationSettings
from gridhook.contract.tenants import Registry, act_for
from gridhook.contract.topics import INSTALLATION_EVENTS
from gridhook.kafka.publisher import Publisher
from gridhook.partners.light import LightAccount, LightApi, PricedPlan
from gridhook.partners.wattshift import WattShiftApi
from gridhook.state import installations as steps
from gridhook.state.binds import BindState, MeterBind, same_device
from gridhook.state.kinds import LIGHT_ACCOUNT, LIGHT_LOCATION, POWERBOX_CUSTOMER, POWERBOX_METER
from gridhook.state.light import AccountView, account_view
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.powerbox import postal_code_of
from gridhook.state.store import Store
from gridhook.state.workflows import Workflow, WorkflowRepository

log = logging.getLogger("gridhook.installations")

T = TypeVar("T")
SOURCE = "gridhook-installations"
DATE_RETRIES = 3
NOT_YET = frozenset({"credit_check_frozen", "enrollment_incomplete"})

Sleep = Callable[[float], Awaitable[None]]


def step_record(workflow: Workflow, entry: dict[str, Any]) -> EncodedRecord:
    """The `gridhook.installations.events` record of one timeline entry; its id is
    `<installationId>:<step number>`, so publishing it again repeats the same event."""
    body = {"installationId": workflow.installation_id} | {
        name: entry[name] for name in ("step", "status", "detail", "reason", "occurredAt")
    }
    return encode(
        CloudEvent(
            id=entry["eventId"],
            source=SOURCE,
            type=installation_step(entry["step"]),
            time=datetime.now(UTC),
            key=workflow.installation_id.encode(),
            data=orjson.dumps(body),
        )
    )


class InstallationDriver:
    """Drives workflows against Light, WattShift and the state store."""

    def __init__(
        self,
        store: Store,
        repository: WorkflowRepository,
        light: LightApi,
        wattshift: WattShiftApi,
        publisher: Publisher,
        settings: InstallationSettings,
        sleep: Sleep = asyncio.sleep,
        tenants: Registry | None = None,
    ) -> None:
        self._tenants = tenants
        self._store = store
        self._binds = MeterBinds(store)
        self._repository = repository
        self._light = light
        self._wattshift = wattshift
        self._publisher = publisher
        self._settings = settings
        self._sleep = sleep
        self._steps: dict[str, Callable[[Workflow], Awaitable[None]]] = {
            steps.CREATED: self._record_poa,
            steps.POA_RECORDED: self._await_readiness,
            steps.WAITING: self._await_readiness,
            steps.HARDWARE_ONLINE: self._request_plans,
            steps.PLANS_REQUESTED: self._choose_plan,
            steps.PLAN_CHOSEN: self._accept,
            steps.PLAN_ACCEPTED: self._await_finalized,
            steps.ENROLLMENT_FINALIZED: self._await_service,
            steps.SERVICE_ACTIVE: self._onboard_wattshift,
        }

    async def run(self, workflow: Workflow) -> None:
        """Take `workflow` from where its row says it is to `wattshift_onboarded` or
        `needs_attention`, publishing every step. Its calls are its tenant's."""
        act_for(workflow.installation_id, self._tenants)
        await self._publish_pending(workflow)
        while workflow.status not in steps.FINISHED:
            try:
                await self._steps[workflow.status](workflow)
            except PartnerRefused as refused:
                await self._needs_attention(workflow, refused.reason)

    # -- steps --------------------------------------------------------------------------------

    async def _record_poa(self, workflow: Workflow) -> None:
        account_uuid = workflow.document["lightAccountUuid"]
        account = await self._retried(lambda: self._light.account(account_uuid))
        recorded_before = account.client_agent_accepted
        if not recorded_before:
            accepted_at = workflow.document.get("poaAcceptedAt")
            await self._retried(lambda: self._light.record_client_agent(account_uuid, accepted_at))
        await self._advance(
            workflow, steps.POA_RECORDED, detail={"recordedBefore": recorded_before}
        )

    async def _await_readiness(self, workflow: Workflow) -> None:
        """Wait, without failing, for the meter's device to be bound and the account to be
        ready; adopt a plan the account already holds."""
        account = await self._account(workflow)
        if account.location is not None:
            await self._adopt(workflow, account)
            return
        meter = await self._meter_state(workflow.document["meterId"])
        wanted = workflow.document.get("deviceMac")
        waits = rules.awaiting(meter.state, account.status)
        if meter.state is BindState.BOUND and wanted and not same_device(wanted, meter.device_mac):
            waits.insert(0, "meter:other_device_bound")
        if waits:
            if waits != workflow.progress.get("waiting_for"):
                workflow.progress["waiting_for"] = waits
                await self._advance(workflow, steps.WAITING, detail={"for": waits})
            await self._sleep(self._settings.check_seconds)
            return
        workflow.progress.pop("waiting_for", None)
        await self._advance(workflow, steps.HARDWARE_ONLINE, detail={"deviceMac": meter.device_mac})

    async def _request_plans(self, workflow: Workflow) -> None:
        document = workflow.document
        try:
            plans, light_now = await self._retried(
                lambda: self._light.request_plans(document["lightAccountUuid"], document["esiId"])
            )
        except PartnerRefused as refused:
            if refused.reason not in NOT_YET:
                raise
            await self._wait_for_account(workflow, refused.reason)
            return
        workflow.progress["plans"] = [plan.to_json() for plan in plans]
        workflow.progress["priced_at"] = light_now.isoformat()
        expiry = min((plan.expires_at for plan in plans), default=None)
        detail = {"plans": len(plans), "expiresAt": None if expiry is None else _text(expiry)}
        await self._advance(workflow, steps.PLANS_REQUESTED, detail=detail)

    async def _choose_plan(self, workflow: Workflow) -> None:
        plans = [PricedPlan.from_json(raw) for raw in workflow.progress.get("plans", [])]
        light_now = datetime.fromisoformat(workflow.progress["priced_at"])
        rule = workflow.document["plan"]
        chosen = rules.choose_plan(plans, rule, light_now)
        if chosen is None:
            if rules.choose_plan(plans, rule, datetime.min.replace(tzinfo=UTC)) is not None:
                await self._advance(workflow, steps.HARDWARE_ONLINE, step="plans_expired")
                return
            raise PartnerRefused(
                "no priced plan matches the installation's rule", "no_matching_plan"
            )
        workflow.progress["plan"] = chosen.to_json()
        detail = {
            "planUuid": chosen.uuid,
            "planName": chosen.name,
            "termMonths": chosen.term_months,
            "price": chosen.price,
            "expiresAt": _text(chosen.expires_at),
        }
        await self._advance(workflow, steps.PLAN_CHOSEN, detail=detail)

    async def _accept(self, workflow: Workflow) -> None:
        """Accept the chosen plan, after reading the account: never a second accept."""
        document = workflow.document
        account = await self._account(workflow)
        if account.location is not None:
            await self._adopt(workflow, account)
            return
        if account.status != rules.READY:
            await self._wait_for_account(workflow, account.status)
            return
        plan = PricedPlan.from_json(workflow.progress["plan"])
        if not rules.still_priced(plan, account.now):
            await self._advance(
                workflow, steps.HARDWARE_ONLINE, step="plan_expired", detail={"planUuid": plan.uuid}
            )
            return
        desired = date.fromisoformat(document["desiredStartDate"])
        attempts = int(workflow.progress.get("accept_attempts", 0)) + 1
        workflow.progress["accept_attempts"] = attempts
        await self._repository.save(workflow)  # the attempt is on record before it is made
        try:
            accepted = await self._light.accept(
                document["lightAccountUuid"],
                plan.uuid,
                document["esiId"],
                partial(rules.service_start, desired),
            )
        except RetriableError:
            # No answer: the accept may have happened. Wait, then read the account first.
            log.warning(
                "plan accept got no answer; the account is read before any retry",
                extra={"fields": {"installation": workflow.installation_id}},
            )
            await self._sleep(backoff(self._settings.backoff_max).delay(attempts))
            return
        except PartnerRefused as refused:
            if refused.reason == "plan_expired":
                await self._advance(
                    workflow,
                    steps.HARDWARE_ONLINE,
                    step="plan_expired",
                    detail={"planUuid": plan.uuid},
                )
                return
            if refused.reason == "plan_already_accepted":
                return  # the next read of the account adopts it
            refusals = int(workflow.progress.get("start_date_refusals", 0))
            if refused.reason == "invalid_service_start_date" and refusals < DATE_RETRIES:
                # Light's day turned between its clock's reading and the accept: read again.
                workflow.progress["start_date_refusals"] = refusals + 1
                return
            if refused.reason in NOT_YET:
                await self._wait_for_account(workflow, refused.reason)
                return
            raise
        await self._adopt(workflow, accepted, found_on_account=False)

    async def _await_finalized(self, workflow: Workflow) -> None:
        view = await self._light_view(workflow)
        if view is not None and (view.checklist["finalized"] or view.status == "service_active"):
            await self._advance(workflow, steps.ENROLLMENT_FINALIZED)
            return
        await self._sleep(self._settings.check_seconds)

    async def _await_service(self, workflow: Workflow) -> None:
        view = await self._light_view(workflow)
        active = [loc for loc in (view.locations if view else []) if loc.service_status == "active"]
        if active:
            detail = {"locationUuid": active[0].location_uuid, "since": active[0].since}
            await self._advance(workflow, steps.SERVICE_ACTIVE, detail=detail)
            return
        await self._sleep(self._settings.check_seconds)

    async def _onboard_wattshift(self, workflow: Workflow) -> None:
        document, progress = workflow.document, workflow.progress
        zipcode = document.get("zipcode") or await self._postal_code(workflow)
        if zipcode is None:
            raise PartnerRefused("no zip code for WattShift", "no_zipcode")
        utilities = await self._retried(lambda: self._wattshift.utilities(zipcode))
        usable = [utility for utility in utilities if utility.rate_plans]
        if not usable:
            raise PartnerRefused("WattShift knows no utility for the zip code", "no_utility")
        utility = usable[0]
        rate_plan_id, rate_plan_name = utility.rate_plans[0]
        if "home_id" not in progress:
            name = f"installation {workflow.installation_id}"
            progress["home_id"] = await self._retried(
                lambda: self._wattshift.create_home(
                    workflow.installation_id, name, zipcode, utility.utility_id, rate_plan_id
                )
            )
            await self._repository.save(workflow)
        home_id = progress["home_id"]
        solar = document.get("solar")
        if solar:
            size, non_net = float(solar["sizeKw"]), bool(solar.get("nonNetMetered", False))
            await self._retried(lambda: self._wattshift.add_solar(home_id, size, non_net))
        detail = {
            "homeId": home_id,
            "utilityId": utility.utility_id,
            "ratePlanId": rate_plan_id,
            "ratePlanName": rate_plan_name,
            "solarKw": float(solar["sizeKw"]) if solar else None,
        }
        await self._advance(workflow, steps.WATTSHIFT_ONBOARDED, detail=detail)

    # -- helpers ------------------------------------------------------------------------------

    async def _adopt(
        self, workflow: Workflow, account: LightAccount, *, found_on_account: bool = True
    ) -> None:
        """The account holds a plan: the installation's is accepted."""
        location = account.location or {}
        detail = {
            "locationUuid": location.get("uuid"),
            "planUuid": location.get("plan_uuid"),
            "planName": location.get("plan_name"),
            "serviceStartDate": location.get("service_start_date"),
            "foundOnAccount": found_on_account,
        }
        await self._advance(workflow, steps.PLAN_ACCEPTED, detail=detail)

    async def _wait_for_account(self, workflow: Workflow, status: str) -> None:
        waits = [f"account:{status}"]
        if waits != workflow.progress.get("waiting_for"):
            workflow.progress["waiting_for"] = waits
            await self._advance(workflow, steps.WAITING, detail={"for": waits})
        await self._sleep(self._settings.check_seconds)

    async def _needs_attention(self, workflow: Workflow, reason: str) -> None:
        workflow.progress["stopped_at"] = workflow.status
        log.warning(
            "installation needs attention",
            extra={"fields": {"installation": workflow.installation_id, "reason": reason}},
        )
        await self._advance(
            workflow, steps.NEEDS_ATTENTION, detail={"at": workflow.status}, reason=reason
        )

    async def _advance(
        self,
        workflow: Workflow,
        status: str,
        *,
        step: str | None = None,
        detail: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        workflow.record(status, step or status, detail, reason)
        await self._retried(lambda: self._repository.save(workflow))
        await self._publish_pending(workflow)
        log.info(
            "installation step",
            extra={"fields": {"installation": workflow.installation_id, "status": status}},
        )

    async def _publish_pending(self, workflow: Workflow) -> None:
        for entry in workflow.timeline[workflow.published :]:
            record = step_record(workflow, entry)
            await until_published(partial(self._publisher.publish, INSTALLATION_EVENTS, record))
        if workflow.published < len(workflow.timeline):
            count = len(workflow.timeline)
            await self._retried(lambda: self._repository.mark_published(workflow, count))

    async def _account(self, workflow: Workflow) -> LightAccount:
        account_uuid = workflow.document["lightAccountUuid"]
        return await self._retried(lambda: self._light.account(account_uuid))

    async def _meter_state(self, meter_id: str) -> MeterBind:
        return await self._retried(lambda: self._binds.current(meter_id))

    async def _light_view(self, workflow: Workflow) -> AccountView | None:
        account_uuid = workflow.document["lightAccountUuid"]
        account = await self._retried(lambda: self._store.entity(LIGHT_ACCOUNT, account_uuid))
        if account is None:
            return None
        locations = await self._retried(lambda: self._store.children(LIGHT_LOCATION, account_uuid))
        return account_view(account.facts, {loc.entity_id: loc.facts for loc in locations})

    async def _postal_code(self, workflow: Workflow) -> str | None:
        client_id, meter_id = workflow.document["clientId"], workflow.document["meterId"]
        customer = await self._retried(lambda: self._store.entity(POWERBOX_CUSTOMER, client_id))
        meter = await self._retried(lambda: self._store.entity(POWERBOX_METER, meter_id))
        if customer is None or meter is None:
            return None
        return postal_code_of(customer.facts, meter.facts, client_id)

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` until it does not fail transiently, with capped exponential backoff."""
        return await retried(call, self._settings.backoff_max, sleep=self._sleep)


def _text(moment: datetime) -> str:
    return format_time(moment)
