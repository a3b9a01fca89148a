"""The orchestrator's decisions, as pure functions of what it knows.

- **Start date.** Light accepts a `service_start_date` 7 to 30 days after its today. The
  desired date is moved into that window: a date sooner than 7 days (or past) becomes today + 7,
  one later than 30 days becomes today + 30, "today" being Light's, from the `Date` of its
  answer to the token mint just before the accept. The plan is not held back for a far date:
  the hardware is online, and a priced plan expires after 5 business days.
- **Plan.** A named plan (exact name), or the cheapest priced plan of a term (ties: by name),
  among the plans that have not expired by Light's clock (with a margin, so a plan does not
  expire between the choice and the accept).
- **Readiness.** The plan is accepted once the meter's device is bound and the Light account
  is `enrollment_pending_client_agent`; while it is `credit_check_frozen` (or still collecting
  prerequisites) the installation waits.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from gridhook.partners.light import PricedPlan
from gridhook.state.binds import BindState

EARLIEST_START, LATEST_START = timedelta(days=7), timedelta(days=30)
EXPIRY_MARGIN = timedelta(hours=1)
READY = "enrollment_pending_client_agent"


def service_start(desired: date, today: date) -> date:
    """The desired start date moved into Light's window of 7 to 30 days after `today`."""
    return min(max(desired, today + EARLIEST_START), today + LATEST_START)


def still_priced(plan: PricedPlan, now: datetime) -> bool:
    """True while the plan is safely short of its expiry by Light's clock."""
    return plan.expires_at - EXPIRY_MARGIN > now


def choose_plan(plans: list[PricedPlan], rule: dict[str, Any], now: datetime) -> PricedPlan | None:
    """The plan the installation's rule picks among those still priced; None when none fits."""
    live = [plan for plan in plans if still_priced(plan, now)]
    if "name" in rule:
        named = [plan for plan in live if plan.name == rule["name"]]
        return named[0] if named else None
    term = rule.get("cheapestForTermMonths")
    matching = [plan for plan in live if plan.term_months == term]
    return min(matching, key=lambda plan: (plan.price, plan.name), default=None)


def awaiting(bind_state: BindState, account_status: str) -> list[str]:
    """What the plan's acceptance still waits for (empty: go ahead)."""
    waits = []
    if bind_state is not BindState.BOUND:
        waits.append(f"meter:{bind_state}")
    if account_status != READY:
        waits.append(f"account:{account_status}")
    return waits
