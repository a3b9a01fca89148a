"""Light state: accounts and their service locations, and the account's lifecycle derived from
them. Pure functions; facts are ordered by Light's own `created_at`.

The lifecycle follows Light's vocabulary (seed 002). The furthest milestone an account has
reached decides its status:

    created ──(identity, credit, payment, address: any order)──▶ enrollment_pending_client_agent
       │                                                           ▲       │ plans/request
       └──▶ credit_check_frozen ──(unfrozen: Light retries)────────┘       ▼
                                                                     plan_requested
                                                                           │ plans/accept
    service_active ◀──── enrollment_finalized ◀───────────────────── plan_accepted
       ▲     │ (per location, the latest of active and canceled wins)
       │     ▼
    service_canceled

Light's own `account.status`, when a body carries it, places the account in the first two
rows (`enrollment_pending_client_agent`, `credit_check_frozen`); events move it further. The
checklist reads the body's `data.account.enrollment` booleans and, for a box no body reported,
the event types that tick it. Every input is a last-writer-wins fact, so the derived status is
as independent of the order webhooks arrive in as the facts are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridhook.contract.codec import CloudEvent
from gridhook.state.facts import PARENT, EntityUpdate, Fact, Facts
from gridhook.state.kinds import LIGHT_ACCOUNT, LIGHT_LOCATION

CREATED = "created"
PENDING_CLIENT_AGENT = "enrollment_pending_client_agent"
CREDIT_CHECK_FROZEN = "credit_check_frozen"
PLAN_REQUESTED = "plan_requested"
PLAN_ACCEPTED = "plan_accepted"
ENROLLMENT_FINALIZED = "enrollment_finalized"
SERVICE_ACTIVE = "service_active"
SERVICE_CANCELED = "service_canceled"
STATUSES = (
    CREATED,
    PENDING_CLIENT_AGENT,
    CREDIT_CHECK_FROZEN,
    PLAN_REQUESTED,
    PLAN_ACCEPTED,
    ENROLLMENT_FINALIZED,
    SERVICE_ACTIVE,
    SERVICE_CANCELED,
)

# Checklist box: (the body's enrollment boolean, the milestone fact an event type sets).
CHECKLIST = {
    "identity": ("is_identity_verified", "identity_verified"),
    "paymentMethod": ("has_payment_method", "payment_method_added"),
    "billingAddress": ("is_billing_address_confirmed", "billing_address_confirmed"),
    "plan": ("has_accepted_plan", "plan_accepted"),
    "finalized": ("is_enrollment_finalized", "enrollment_finalized"),
}
_PREREQUISITES = ("identity", "paymentMethod", "billingAddress")
_MILESTONES = {
    "enrollment.plan_requested": "plan_requested",
    "enrollment.plan_accepted": "plan_accepted",
    "account.payment_method_added": "payment_method_added",
    "account.billing_address_updated": "billing_address_confirmed",
    "enrollment.finalized": "enrollment_finalized",
}
_LOCATION_FIELDS = (
    "esi_id",
    "service_start_date",
    "final_service_date",
    "plan_name",
    "plan_uuid",
    "is_service_active",
    "has_usage_history",
)
ENROLLMENT = "enrollment:"


def light_updates(
    event: CloudEvent, document: dict[str, Any], account_uuid: str, at: str
) -> list[EntityUpdate]:
    """What a Light event at time `at` says about its account and location."""
    account = document["data"]["account"]

    def fact(value: Any) -> Fact:
        return Fact(value, at, event.id)

    facts: Facts = {"last_event": fact(event.type)}
    enrollment = account.get("enrollment")
    if isinstance(enrollment, dict):
        for name, value in enrollment.items():
            if isinstance(value, bool):
                facts[ENROLLMENT + name] = fact(value)
    if isinstance(account.get("status"), str):
        facts["light_status"] = fact(account["status"])
    milestone = _MILESTONES.get(event.type)
    if milestone is not None:
        facts[milestone] = fact(True)
    location_facts: Facts = {}
    match event.type:
        case "enrollment.identity_updated":
            verified = enrollment.get("is_identity_verified", True) if enrollment else True
            facts["identity_verified"] = fact(bool(verified))
        case "account.payment_failed":
            facts["last_payment"] = fact("failed")
        case "account.payment_successful":
            facts["last_payment"] = fact("successful")
        case "location.service_active":
            location_facts["service_status"] = fact("active")
        case "location.service_canceled":
            location_facts["service_status"] = fact("canceled")
        case "location.usage_history_available":
            location_facts["usage_history_available"] = fact(True)
    updates = [EntityUpdate(LIGHT_ACCOUNT, account_uuid, facts)]
    location = document["data"].get("location")
    if isinstance(location, dict) and location.get("uuid"):
        for name in _LOCATION_FIELDS:
            if location.get(name) is not None:
                location_facts[name] = fact(location[name])
        location_facts[PARENT] = fact(account_uuid)
        updates.append(EntityUpdate(LIGHT_LOCATION, str(location["uuid"]), location_facts))
    return updates


@dataclass(frozen=True)
class LocationView:
    """A service location as the read API shows it."""

    location_uuid: str
    service_status: str | None
    since: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AccountView:
    """A Light account's derived lifecycle."""

    status: str
    light_status: str | None
    checklist: dict[str, bool]
    locations: list[LocationView]


def _checked(facts: Facts, box: str) -> bool:
    flag, milestone = CHECKLIST[box]
    candidates = [fact for fact in (facts.get(ENROLLMENT + flag), facts.get(milestone)) if fact]
    if not candidates:
        return False
    newest = candidates[0]
    for fact in candidates[1:]:
        if fact.newer_than(newest):
            newest = fact
    return bool(newest.value)


def location_view(location_uuid: str, facts: Facts) -> LocationView:
    status = facts.get("service_status")
    details = {name: facts[name].value for name in _LOCATION_FIELDS if name in facts}
    return LocationView(
        location_uuid,
        None if status is None else str(status.value),
        None if status is None else status.at,
        details,
    )


def account_view(account: Facts, locations: dict[str, Facts]) -> AccountView:
    """The account's status, checklist and locations, from its facts and its locations'."""
    checklist = {box: _checked(account, box) for box in CHECKLIST}
    views = [location_view(uuid, facts) for uuid, facts in sorted(locations.items())]
    light_status = account.get("light_status")
    said = None if light_status is None else str(light_status.value)
    return AccountView(_status(account, checklist, views, said), said, checklist, views)


def _status(
    account: Facts, checklist: dict[str, bool], locations: list[LocationView], said: str | None
) -> str:
    served = [location.service_status for location in locations if location.service_status]
    if "active" in served:
        return SERVICE_ACTIVE
    if served:
        return SERVICE_CANCELED
    if checklist["finalized"]:
        return ENROLLMENT_FINALIZED
    if checklist["plan"]:
        return PLAN_ACCEPTED
    if "plan_requested" in account:
        return PLAN_REQUESTED
    if said in (CREDIT_CHECK_FROZEN, PENDING_CLIENT_AGENT):
        return said
    if all(checklist[box] for box in _PREREQUISITES):
        return PENDING_CLIENT_AGENT
    return CREATED
