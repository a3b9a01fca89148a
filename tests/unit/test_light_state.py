"""Light's account lifecycle, derived from facts: the client-agent enrollment of seed 002."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gridhook.contract.codec import CloudEvent
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.state.kinds import LIGHT_ACCOUNT, LIGHT_LOCATION
from gridhook.state.light import STATUSES, AccountView, account_view
from tests.support.state_events import START, Recorded, State, apply_all

ACCOUNT = "acct-lifecycle"
LOCATION = "loc-lifecycle"
FLAGS = (
    "is_identity_verified",
    "has_payment_method",
    "is_billing_address_confirmed",
    "has_accepted_plan",
    "is_enrollment_finalized",
)


def step(
    event_type: str,
    minute: int,
    *,
    done: tuple[str, ...] = (),
    status: str | None = None,
    located: bool = False,
) -> Recorded:
    """A Light webhook at `minute`, its body's enrollment booleans true for `done`."""
    account: dict[str, Any] = {
        "uuid": ACCOUNT,
        "enrollment": {flag: flag in done for flag in FLAGS},
    }
    if status is not None:
        account["status"] = status
    data: dict[str, Any] = {"account": account}
    if located:
        data["location"] = {
            "uuid": LOCATION,
            "esi_id": "55512345671234567",
            "service_start_date": "2026-12-20",
            "plan_name": "Light Saver 12",
        }
    event_id = f"evt_{event_type}_{minute}"
    body = {
        "id": event_id,
        "type": event_type,
        "created_at": (START + timedelta(minutes=minute)).isoformat(),
        "data": data,
    }
    event = CloudEvent(
        id=event_id,
        source="light",
        type=event_type,
        time=START + timedelta(minutes=minute, seconds=30),
        key=ACCOUNT.encode(),
        data=orjson.dumps(body),
    )
    return Recorded("light.events", event, minute)


ID, PAY, BILL, PLAN, FINAL = FLAGS
LIFECYCLE = [
    (step("enrollment.identity_updated", 1, done=(ID,)), "created"),
    (
        step("account.payment_method_added", 2, done=(ID, PAY), status="credit_check_frozen"),
        "credit_check_frozen",
    ),
    (
        step(
            "account.billing_address_updated",
            3,
            done=(ID, PAY, BILL),
            status="enrollment_pending_client_agent",
        ),
        "enrollment_pending_client_agent",
    ),
    (step("enrollment.plan_requested", 4, done=(ID, PAY, BILL)), "plan_requested"),
    (
        step("enrollment.plan_accepted", 5, done=(ID, PAY, BILL, PLAN), located=True),
        "plan_accepted",
    ),
    (
        step("enrollment.finalized", 6, done=(ID, PAY, BILL, PLAN, FINAL), located=True),
        "enrollment_finalized",
    ),
    (step("location.service_active", 7, done=FLAGS, located=True), "service_active"),
]
EVENTS = [event for event, _ in LIFECYCLE]


def view(state: State) -> AccountView:
    locations = {
        entity_id: facts for (kind, entity_id), facts in state.items() if kind == LIGHT_LOCATION
    }
    return account_view(state[(LIGHT_ACCOUNT, ACCOUNT)], locations)


def test_the_client_agent_enrollment_walks_the_lifecycle() -> None:
    """Each step of seed 002, pre-plan steps without a location, moves the status on."""
    for count, (_, expected) in enumerate(LIFECYCLE, start=1):
        assert view(apply_all(EVENTS[:count])).status == expected, EVENTS[count - 1].event.type


def test_the_checklist_follows_the_bodies_and_the_event_types() -> None:
    checklist = view(apply_all(EVENTS[:3])).checklist
    assert checklist == {
        "identity": True,
        "paymentMethod": True,
        "billingAddress": True,
        "plan": False,
        "finalized": False,
    }
    assert all(view(apply_all(EVENTS)).checklist.values())


def test_the_location_carries_its_plan_and_start_date() -> None:
    (location,) = view(apply_all(EVENTS)).locations
    assert (location.service_status, location.details["service_start_date"]) == (
        "active",
        "2026-12-20",
    )
    assert location.details["plan_name"] == "Light Saver 12"


def test_frozen_credit_returns_to_pending_once_unfrozen() -> None:
    """Light moves the account back by itself; the later status wins, whatever arrives last."""
    done = (ID, PAY, BILL)
    frozen = step("enrollment.identity_updated", 1, done=done, status="credit_check_frozen")
    unfrozen = step(
        "enrollment.identity_updated", 9, done=done, status="enrollment_pending_client_agent"
    )
    assert view(apply_all([frozen])).status == "credit_check_frozen"
    assert view(apply_all([unfrozen, frozen])).status == "enrollment_pending_client_agent"


def test_the_later_payment_by_event_time_is_shown_whatever_arrives_last() -> None:
    ok, failed = step("account.payment_successful", 10), step("account.payment_failed", 20)
    for order in ([ok, failed], [failed, ok]):
        facts = apply_all(order)[(LIGHT_ACCOUNT, ACCOUNT)]
        assert facts["last_payment"].value == "failed"
    early_failure = step("account.payment_failed", 5)
    assert apply_all([ok, early_failure])[(LIGHT_ACCOUNT, ACCOUNT)]["last_payment"].value == (
        "successful"
    )


def test_a_location_canceled_then_reactivated_reads_active() -> None:
    canceled = step("location.service_canceled", 30, located=True)
    active_again = step("location.service_active", 40, located=True)
    state = apply_all([*EVENTS, active_again, canceled])
    assert view(state).status == "service_active"
    assert view(apply_all([*EVENTS, canceled])).status == "service_canceled"


IN_ORDER = view(apply_all(EVENTS))


@settings(max_examples=300, deadline=None)
@given(
    order=st.permutations(range(len(EVENTS))),
    repeats=st.lists(st.integers(0, len(EVENTS) - 1), max_size=6),
)
def test_any_arrival_order_with_duplicates_derives_the_same_lifecycle(
    order: list[int], repeats: list[int]
) -> None:
    """Shuffled and redelivered webhooks: the same status, checklist and locations."""
    shuffled = [EVENTS[i] for i in order] + [EVENTS[i] for i in repeats]
    assert view(apply_all(shuffled)) == IN_ORDER


def test_the_docs_draw_every_status() -> None:
    """Each status the read API can answer appears in the docs' lifecycle diagram."""
    readme = (PROJECT_ROOT / "docs" / "consumers.md").read_text()
    diagram = readme.split("**A Light account's lifecycle.**", 1)[1].split("```", 2)[1]
    assert [status for status in STATUSES if status not in diagram] == []
