"""The installation orchestrator against in-memory Light and WattShift, on SQLite."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.installations.driver import InstallationDriver
from consumers.installations.orchestrator import Orchestrator
from gridhook.contract.codec import CloudEvent, decode
from gridhook.contract.errors import PartnerRefused, PartnerUnavailable
from gridhook.contract.settings import InstallationSettings
from gridhook.contract.topics import (
    INSTALLATION_EVENTS,
    INSTALLATIONS,
    LIGHT_EVENTS,
)
from gridhook.kafka.records import InboundRecord
from gridhook.state.installations import installation_view
from gridhook.state.store import Application, Store
from gridhook.state.transitions import RECONCILERS, updates_for
from gridhook.state.workflows import Workflow, WorkflowRepository
from tests.support.bind_states import put_bound
from tests.support.fakes import InMemoryLight, InMemoryPublisher, InMemoryWattShift
from tests.support.light_payloads import light_event
from tests.support.waiting import eventually

ACCOUNT, METER, CLIENT, ESI = "acct-1", "mtr-1", "client-1", "55512345671234567"
MAC = "00:1B:C5:00:00:AA:BB:CC"
TODAY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SETTINGS = InstallationSettings(
    light_url="memory:",
    light_app_token="app",
    wattshift_url="memory:",
    wattshift_key="key",
    partner_timeout=1,
    backoff_max=0.01,
    check_seconds=0.005,
)
_offsets = itertools.count(1)


def installation(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "installationId": "inst-1",
        "lightAccountUuid": ACCOUNT,
        "clientId": CLIENT,
        "meterId": METER,
        "esiId": ESI,
        "desiredStartDate": (TODAY.date() + timedelta(days=14)).isoformat(),
        "zipcode": "78701",
        "plan": {"cheapestForTermMonths": 12},
        "solar": {"sizeKw": 7.5},
    }
    return document | changes


def record(document: dict[str, Any], offset: int = 0) -> InboundRecord:
    return InboundRecord(
        INSTALLATIONS, 0, offset, document["installationId"].encode(),
        orjson.dumps(document), (), 0,
    )  # fmt: skip


class Stack:
    """An orchestrator over in-memory partners, and the store the state applier would fill."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.light = InMemoryLight(clock=lambda: TODAY)
        self.light.add_account(ACCOUNT)
        self.wattshift = InMemoryWattShift()
        self.publisher = InMemoryPublisher()
        self.repository = WorkflowRepository(store)
        self.orchestrator = self.fresh()

    def fresh(self) -> Orchestrator:
        """A new orchestrator process on the same store and partners."""
        driver = InstallationDriver(
            self.store, self.repository, self.light, self.wattshift, self.publisher, SETTINGS
        )
        return Orchestrator(self.repository, driver)

    async def apply(self, topic: str, document: dict[str, Any], event_id: str) -> None:
        offset = next(_offsets)
        kind = str(document.get("type", "test"))
        event = CloudEvent(event_id, "test", kind, datetime.now(UTC), b"k", orjson.dumps(document))
        updates = updates_for(topic, event, offset)
        await self.store.apply(
            [Application(event_id, topic, 0, offset, updates)], reconcilers=RECONCILERS
        )

    async def bind_meter(self) -> None:
        await put_bound(self.store, METER, MAC)

    async def light_says(self, event_type: str, minute: int) -> None:
        body = light_event(event_type, ACCOUNT, created_at=TODAY + timedelta(minutes=minute))
        if "location" in body["data"]:
            body["data"]["location"]["uuid"] = "loc-1"
            body["data"]["location"]["is_service_active"] = event_type == "location.service_active"
        await self.apply(LIGHT_EVENTS, body, body["id"])

    async def status(self, wanted: str, deadline: float = 5) -> Workflow:
        async def reached() -> Workflow | None:
            workflow = await self.repository.load("inst-1")
            return workflow if workflow is not None and workflow.status == wanted else None

        found: Workflow | None = await eventually(reached, deadline, f"installation {wanted}")
        assert found is not None
        return found

    def steps(self) -> list[str]:
        return [
            orjson.loads(decode(r.key, r.value, r.headers).data)["step"]
            for r in self.publisher.published(INSTALLATION_EVENTS)
        ]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}", writer=True)
    await store.migrate()
    built = Stack(store)
    yield built
    await built.orchestrator.close()
    await store.close()


async def test_an_installation_goes_from_creation_to_wattshift_onboarded(stack: Stack) -> None:
    """POA, wait for the device, cheapest 12-month plan accepted once, then WattShift with solar."""
    await stack.orchestrator.handle([record(installation())])
    waiting = await stack.status("waiting")
    assert waiting.timeline[-1]["detail"] == {"for": ["meter:unbound"]}
    assert stack.light.accounts[ACCOUNT].poa
    await stack.bind_meter()
    accepted = await stack.status("plan_accepted")
    location = stack.light.accounts[ACCOUNT].location
    assert location is not None
    assert location["plan_uuid"] == accepted.progress["plan"]["uuid"]
    assert accepted.progress["plan"]["name"] == "Saver 12"
    await stack.light_says("enrollment.finalized", 1)
    await stack.status("enrollment_finalized")
    await stack.light_says("location.service_active", 2)
    done = await stack.status("wattshift_onboarded")
    home = done.timeline[-1]["detail"]["homeId"]
    assert stack.wattshift.solar == {home: 7.5}
    assert stack.light.accepted() == 1
    await eventually(lambda: len(stack.steps()) == len(done.timeline), 5, "every step published")
    assert stack.steps() == [
        "admitted",
        "poa_recorded",
        "waiting",
        "hardware_online",
        "plans_requested",
        "plan_chosen",
        "plan_accepted",
        "enrollment_finalized",
        "service_active",
        "wattshift_onboarded",
    ]


async def test_a_poa_light_already_holds_is_not_recorded_again(stack: Stack) -> None:
    """An account that shows the POA is not asked to record it again."""
    stack.light.accounts[ACCOUNT].poa = True
    await stack.orchestrator.handle([record(installation())])
    poa = await stack.status("waiting")
    assert ("record-client-agent", "ok") not in stack.light.calls
    assert poa.timeline[1]["detail"] == {"recordedBefore": True}


async def test_a_frozen_credit_check_waits_then_goes_on_once_unfrozen(stack: Stack) -> None:
    """While the account is credit_check_frozen the installation waits, without failing."""
    stack.light.accounts[ACCOUNT].status = "credit_check_frozen"
    await stack.bind_meter()
    await stack.orchestrator.handle([record(installation())])
    waiting = await stack.status("waiting")
    assert waiting.timeline[-1]["detail"] == {"for": ["account:credit_check_frozen"]}
    stack.light.accounts[ACCOUNT].status = "enrollment_pending_client_agent"
    await stack.status("plan_accepted")
    assert stack.light.accepted() == 1


async def test_an_accept_whose_answer_is_lost_is_adopted_not_repeated(stack: Stack) -> None:
    """Light accepted but the answer was lost: the account is read, the plan adopted."""
    await stack.bind_meter()
    stack.light.fail("plans/accept", PartnerUnavailable("timeout"), after_work=True)
    await stack.orchestrator.handle([record(installation())])
    accepted = await stack.status("plan_accepted")
    assert stack.light.accepted() == 1
    assert [c for c, _ in stack.light.calls].count("plans/accept") == 1
    assert accepted.timeline[-1]["detail"]["foundOnAccount"] is True


async def test_an_accept_that_timed_out_before_light_acted_is_made_once_later(
    stack: Stack,
) -> None:
    """A transient failure before Light acted: the account shows no plan, the accept is made."""
    await stack.bind_meter()
    stack.light.fail("plans/accept", PartnerUnavailable("503"))
    stack.light.fail("account", PartnerUnavailable("503"))
    await stack.orchestrator.handle([record(installation())])
    await stack.status("plan_accepted")
    assert stack.light.accepted() == 1


async def test_a_plan_that_expired_before_acceptance_is_requested_again(stack: Stack) -> None:
    """Light says plan_expired: plans are requested again and the new plan accepted once."""
    await stack.bind_meter()
    stack.light.fail("plans/accept", PartnerRefused("expired", "plan_expired"))
    await stack.orchestrator.handle([record(installation())])
    await stack.status("plan_accepted")
    assert [c for c, _ in stack.light.calls].count("plans/request") == 2
    assert stack.light.accepted() == 1
    assert "plan_expired" in stack.steps()


async def test_plans_expired_by_lights_clock_are_not_accepted(stack: Stack) -> None:
    """Plans priced to expire within the hour are requested again, never accepted stale."""
    await stack.bind_meter()
    stack.light.plan_lifetime = timedelta(minutes=10)
    await stack.orchestrator.handle([record(installation())])
    await stack.status("plans_requested")
    stack.light.plan_lifetime = timedelta(days=7)
    await stack.status("plan_accepted")
    assert "plans_expired" in stack.steps()
    assert stack.light.accepted() == 1


@pytest.mark.parametrize(("days", "start_in"), [(3, 7), (60, 30), (14, 14)])
async def test_the_start_date_is_moved_into_lights_window(
    stack: Stack, days: int, start_in: int
) -> None:
    """A desired date 3 days away starts in 7 days, 60 days away in 30; 14 stays 14."""
    await stack.bind_meter()
    desired = (TODAY.date() + timedelta(days=days)).isoformat()
    await stack.orchestrator.handle([record(installation(desiredStartDate=desired))])
    accepted = await stack.status("plan_accepted")
    expected = (TODAY.date() + timedelta(days=start_in)).isoformat()
    assert accepted.timeline[-1]["detail"]["serviceStartDate"] == expected


async def test_a_refusal_stops_in_needs_attention_and_a_new_document_resumes(
    stack: Stack,
) -> None:
    """A 4xx stops the installation with Light's reason; the installer's fix resumes it."""
    await stack.bind_meter()
    await stack.orchestrator.handle([record(installation(plan={"name": "Nonexistent"}))])
    stopped = await stack.status("needs_attention")
    assert stopped.timeline[-1]["reason"] == "no_matching_plan"
    assert stack.light.accepted() == 0
    await stack.orchestrator.handle([record(installation(plan={"name": "Simple 12"}), 1)])
    accepted = await stack.status("plan_accepted")
    assert accepted.progress["plan"]["name"] == "Simple 12"
    assert "resumed" in [entry["step"] for entry in accepted.timeline]


async def test_a_restarted_orchestrator_goes_on_from_the_last_step_and_accepts_once(
    stack: Stack,
) -> None:
    """Killed with a plan chosen: the next orchestrator reads the account and accepts once."""
    await stack.orchestrator.handle([record(installation())])
    await stack.status("waiting")
    await stack.orchestrator.close()
    await stack.bind_meter()
    stack.orchestrator = stack.fresh()
    await stack.orchestrator.assigned({(INSTALLATIONS, 0): 0})
    await stack.status("plan_accepted")
    assert stack.light.accepted() == 1


async def test_the_same_document_again_is_a_duplicate(stack: Stack) -> None:
    """Redelivery of the installation record changes nothing."""
    counts = await stack.orchestrator.handle([record(installation())])
    again = await stack.orchestrator.handle([record(installation())])
    assert (counts.applied, again.duplicates) == (1, 1)


async def test_a_lost_home_creation_answer_makes_one_home(stack: Stack) -> None:
    """WattShift created the home but the answer was lost: the retry gets the same home."""
    await stack.bind_meter()
    stack.wattshift.fail("homes/create", PartnerUnavailable("timeout"), after_work=True)
    await stack.orchestrator.handle([record(installation(solar=None))])
    await stack.status("plan_accepted")
    await stack.light_says("enrollment.finalized", 1)
    await stack.light_says("location.service_active", 2)
    await stack.status("wattshift_onboarded")
    assert len(stack.wattshift.homes) == 1
    assert stack.wattshift.solar == {}


async def test_the_read_view_shows_status_timeline_and_home(stack: Stack) -> None:
    """Step records applied to the store make the installation's status and timeline."""
    await stack.apply(INSTALLATIONS, installation(), "inst-1:v1")
    await stack.bind_meter()
    await stack.orchestrator.handle([record(installation())])
    await stack.status("plan_accepted")
    for published in stack.publisher.published(INSTALLATION_EVENTS):
        event = decode(published.key, published.value, published.headers)
        await stack.apply(INSTALLATION_EVENTS, orjson.loads(event.data), event.id)
    entity = await stack.store.entity("gridhook.installation", "inst-1")
    assert entity is not None
    view = installation_view(entity.facts)
    assert view.status == "plan_accepted"
    assert view.document is not None
    assert view.document["meterId"] == METER
    assert [step["step"] for step in view.timeline][:3] == [
        "admitted",
        "poa_recorded",
        "hardware_online",
    ]


def test_start_date_rule() -> None:
    """The window is [today + 7, today + 30], inclusive."""
    from consumers.installations.rules import service_start

    today = date(2026, 12, 1)
    assert service_start(date(2026, 11, 20), today) == date(2026, 12, 8)
    assert service_start(date(2026, 12, 31), today) == date(2026, 12, 31)
    assert service_start(date(2027, 1, 1), today) == date(2026, 12, 31)


def test_plan_rule_picks_by_name_or_cheapest_of_term_among_live_plans() -> None:
    """Named: exact name; term: lowest price (ties by name); expired plans never."""
    from consumers.installations.rules import choose_plan
    from gridhook.partners.light import PricedPlan

    later, soon = TODAY + timedelta(days=5), TODAY + timedelta(minutes=30)
    plans = [
        PricedPlan("a", "Simple 12", 12, 14.2, later),
        PricedPlan("b", "Saver 12", 12, 13.7, soon),
        PricedPlan("c", "Value 12", 12, 13.9, later),
        PricedPlan("d", "Flex", 1, 16.9, later),
    ]
    assert choose_plan(plans, {"name": "Flex"}, TODAY).uuid == "d"  # type: ignore[union-attr]
    cheapest = choose_plan(plans, {"cheapestForTermMonths": 12}, TODAY)
    assert cheapest is not None
    assert cheapest.uuid == "c"
    assert choose_plan(plans, {"cheapestForTermMonths": 24}, TODAY) is None
    assert choose_plan(plans, {"name": "Saver 12"}, TODAY) is None
