"""The CloudEvents types gridhook knows, per source: the `ce_type` of the records it publishes.

Light and Bright name their own types (in the body's `type`); PowerBox requests carry none, so
gridhook names them. New partner types are accepted as they appear (see README, Event types).
"""

from __future__ import annotations

LIGHT_EVENT_TYPES = (
    "enrollment.plan_requested",
    "enrollment.plan_accepted",
    "enrollment.identity_updated",
    "enrollment.finalized",
    "account.payment_method_added",
    "account.billing_address_updated",
    "account.payment_failed",
    "account.payment_successful",
    "location.service_active",
    "location.service_canceled",
    "location.usage_history_available",
)

LIGHT_TYPES_WITH_LOCATION = frozenset(
    {name for name in LIGHT_EVENT_TYPES if name.startswith("location.")}
    | {"enrollment.plan_accepted", "enrollment.finalized"}
)
"""Light events that always carry the location: a location exists once a plan is accepted."""

BRIGHT_EVENT_TYPES = ("lastSeen", "accountCreated", "accountDeleted")

WATTSHIFT_PRICE_SIGNAL = "price_signal.updated"

POWERBOX_CUSTOMER_SYNCED = "powerbox.customer.synced"
POWERBOX_BIND_REQUESTED = "powerbox.bind.requested"
POWERBOX_METER_READS = "powerbox.meter.reads"
LIGHT_USAGE_FETCHED = "light.usage.fetched"


def powerbox_bind_result(outcome: str) -> str:
    """The type of a bind result record: `powerbox.bind.<outcome>`."""
    return f"powerbox.bind.{outcome}"


INSTALLATION_CREATED = "installation.created"


def installation_step(step: str) -> str:
    """The type of an installation step record: `installation.<step>`."""
    return f"installation.{step}"


PERSON_UPDATED = "gridhook.person.updated"
ACCOUNT_ERASED = "gridhook.account.erased"
