"""Installations as the read API shows them: the installer's document, the workflow's status
and the timeline of its steps, from `gridhook.installations` and
`gridhook.installations.events`. Pure functions; the store merges what they return.

An installation's facts: `document` (the latest document the installer sent, ordered by its
offset in `gridhook.installations`), `status` (the latest step's status, ordered by offset in
`gridhook.installations.events`: one installation, one partition), its meter as its alias,
and one `step:<event id>` per step, so that the timeline keeps every step, a repeated one
(plans requested again after they expired) included. The Light location a step names (once
the plan is accepted) gets the fact `installation`: the service's measurements find their
meter and agreement by it.

The workflow's statuses, in the order an installation normally passes them:

    created ─▶ poa_recorded ─▶ waiting ─▶ hardware_online ─▶ plans_requested ─▶ plan_chosen
                                 ▲  (meter bound, account      ▲ (a priced plan │
                                 │   ready, credit unfrozen)   │  expired)      ▼
                                 └──────────────────────────── plan_accepted ◀──┘
    wattshift_onboarded ◀── service_active ◀── enrollment_finalized ◀──┘

and `needs_attention` from any step a partner refused (its `reason` says why); an operator
resumes one (the same document again, with `operatorAction: resume`), or `canceled` any
unfinished one (`operatorAction: cancel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridhook.contract.codec import CloudEvent, format_time
from gridhook.contract.errors import UnapplicableEvent
from gridhook.state.facts import ALIAS, EntityUpdate, Fact, Facts
from gridhook.state.kinds import INSTALLATION, LIGHT_LOCATION
from gridhook.state.people import customer_updates

CREATED = "created"
POA_RECORDED = "poa_recorded"
WAITING = "waiting"
HARDWARE_ONLINE = "hardware_online"
PLANS_REQUESTED = "plans_requested"
PLAN_CHOSEN = "plan_chosen"
PLAN_ACCEPTED = "plan_accepted"
ENROLLMENT_FINALIZED = "enrollment_finalized"
SERVICE_ACTIVE = "service_active"
WATTSHIFT_ONBOARDED = "wattshift_onboarded"
NEEDS_ATTENTION = "needs_attention"
CANCELED = "canceled"
STATUSES = (
    CREATED,
    POA_RECORDED,
    WAITING,
    HARDWARE_ONLINE,
    PLANS_REQUESTED,
    PLAN_CHOSEN,
    PLAN_ACCEPTED,
    ENROLLMENT_FINALIZED,
    SERVICE_ACTIVE,
    WATTSHIFT_ONBOARDED,
    NEEDS_ATTENTION,
    CANCELED,
)
FINISHED = frozenset({WATTSHIFT_ONBOARDED, NEEDS_ATTENTION, CANCELED})

DOCUMENT, STATUS, STEP, HOME = "document", "status", "step:", "wattshift_home"
SERVED_BY = "installation"
"""The fact of a Light location naming the installation that enrolled it."""


def created_updates(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    """What an installation record at offset `seq` says: the installer's document."""
    installation_id = document.get("installationId")
    if not isinstance(installation_id, str):
        raise UnapplicableEvent("installation has no installationId")
    at = format_time(event.time)
    facts: Facts = {DOCUMENT: Fact(document, at, event.id, seq)}
    if isinstance(document.get("meterId"), str):
        facts[ALIAS] = Fact(document["meterId"], at, event.id, seq)  # its meter finds it
    updates = [EntityUpdate(INSTALLATION, installation_id, facts)]
    customer, account = document.get("customer"), document.get("lightAccountUuid")
    if isinstance(customer, dict) and isinstance(account, str):
        # People are ordered by time (not offset): their facts come from several topics.
        updates += customer_updates(account, customer, Fact(None, at, event.id))
    return updates


def step_updates(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    """What a step record at offset `seq` says: the installation's status and one step."""
    try:
        installation_id = str(document["installationId"])
        status, step, at = str(document["status"]), str(document["step"]), document["occurredAt"]
    except KeyError:
        raise UnapplicableEvent("installation step lacks installationId, step or time") from None
    facts: Facts = {
        STATUS: Fact(status, at, event.id, seq),
        STEP + event.id: Fact(
            {
                "step": step,
                "status": status,
                "detail": document.get("detail"),
                "reason": document.get("reason"),
            },
            at,
            event.id,
            seq,
        ),
    }
    detail = document.get("detail") or {}
    home = detail.get("homeId")
    if isinstance(home, str):
        facts[HOME] = Fact(home, at, event.id, seq)
    updates = [EntityUpdate(INSTALLATION, installation_id, facts)]
    location = detail.get("locationUuid")
    enrolled = status == PLAN_ACCEPTED and not detail.get("foundOnAccount")
    if isinstance(location, str) and enrolled:  # the installation that enrolled it
        link = {SERVED_BY: Fact(installation_id, at, event.id, seq)}
        updates.append(EntityUpdate(LIGHT_LOCATION, location, link))
    return updates


@dataclass(frozen=True)
class InstallationView:
    """An installation's document, status, WattShift home and timeline (oldest first)."""

    document: dict[str, Any] | None
    status: str
    reason: str | None
    home_id: str | None
    timeline: list[dict[str, Any]]
    updated_at: str | None


def installation_view(facts: Facts) -> InstallationView:
    steps = sorted(
        (fact for name, fact in facts.items() if name.startswith(STEP)),
        key=lambda fact: (-1 if fact.seq is None else fact.seq, fact.at),
    )
    timeline = [{**fact.value, "at": fact.at, "eventId": fact.event_id} for fact in steps]
    status = facts.get(STATUS)
    document = facts.get(DOCUMENT)
    home = facts.get(HOME)
    last = timeline[-1] if timeline else None
    return InstallationView(
        document=None if document is None else dict(document.value),
        status=CREATED if status is None else str(status.value),
        reason=last["reason"] if last and status and last["status"] == status.value else None,
        home_id=None if home is None else str(home.value),
        timeline=timeline,
        updated_at=None if status is None else status.at,
    )
