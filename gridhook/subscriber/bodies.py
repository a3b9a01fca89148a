"""Typed bodies of every event gridhook publishes, one `TypedDict` per JSON Schema.

Generated from `schemas/` by `gridhook docs bodies` (`make bodies`); do not edit by hand:
`make lint` fails when this file and the schemas disagree. A `TypedDict` is a plain dict at
run time, so fields a schema does not name are kept.
"""

# ruff: noqa: E501
# No `from __future__ import annotations`: `NotRequired` must be evaluated for
# `__required_keys__` to name the required fields at run time.
from typing import Any, Literal, NotRequired, TypedDict


class LightEnrollment(TypedDict):
    """`LightEnrollment`"""

    has_accepted_plan: NotRequired[bool]
    has_payment_method: NotRequired[bool]
    is_billing_address_confirmed: NotRequired[bool]
    is_enrollment_finalized: NotRequired[bool]
    is_identity_verified: NotRequired[bool]
    is_service_active: NotRequired[bool]


class LightAccount(TypedDict):
    """`LightAccount`"""

    account_number: NotRequired[str | None]
    created_at: NotRequired[str | None]
    email: NotRequired[str | None]
    enrollment: NotRequired[LightEnrollment]
    first_name: NotRequired[str | None]
    last_name: NotRequired[str | None]
    phone_number: NotRequired[str | None]
    status: NotRequired[str | None]
    uuid: str


class LightLocation(TypedDict):
    """`LightLocation`"""

    address_1: NotRequired[str | None]
    address_2: NotRequired[str | None]
    city: NotRequired[str | None]
    esi_id: NotRequired[str | None]
    final_service_date: NotRequired[str | None]
    has_usage_history: NotRequired[bool]
    is_service_active: NotRequired[bool]
    plan_name: NotRequired[str | None]
    plan_uuid: NotRequired[str | None]
    postal_code: NotRequired[str | None]
    service_start_date: NotRequired[str | None]
    state: NotRequired[str | None]
    utility_number: NotRequired[str | None]
    uuid: str


class LightData(TypedDict):
    """`LightData`"""

    account: LightAccount
    location: NotRequired[LightLocation]


class LightAccountBillingAddressUpdated(TypedDict):
    """account.billing_address_updated"""

    created_at: str
    data: LightData
    id: str
    type: Literal["account.billing_address_updated"]


class LightAccountPaymentFailed(TypedDict):
    """account.payment_failed"""

    created_at: str
    data: LightData
    id: str
    type: Literal["account.payment_failed"]


class LightAccountPaymentMethodAdded(TypedDict):
    """account.payment_method_added"""

    created_at: str
    data: LightData
    id: str
    type: Literal["account.payment_method_added"]


class LightAccountPaymentSuccessful(TypedDict):
    """account.payment_successful"""

    created_at: str
    data: LightData
    id: str
    type: Literal["account.payment_successful"]


class LightEnrollmentFinalizedData(TypedDict):
    """`LightEnrollmentFinalizedData`"""

    account: LightAccount
    location: LightLocation


class LightEnrollmentFinalized(TypedDict):
    """enrollment.finalized"""

    created_at: str
    data: LightEnrollmentFinalizedData
    id: str
    type: Literal["enrollment.finalized"]


class LightEnrollmentIdentityUpdated(TypedDict):
    """enrollment.identity_updated"""

    created_at: str
    data: LightData
    id: str
    type: Literal["enrollment.identity_updated"]


class LightEnrollmentPlanAccepted(TypedDict):
    """enrollment.plan_accepted"""

    created_at: str
    data: LightEnrollmentFinalizedData
    id: str
    type: Literal["enrollment.plan_accepted"]


class LightEnrollmentPlanRequested(TypedDict):
    """enrollment.plan_requested"""

    created_at: str
    data: LightData
    id: str
    type: Literal["enrollment.plan_requested"]


class LightLocationServiceActive(TypedDict):
    """location.service_active"""

    created_at: str
    data: LightEnrollmentFinalizedData
    id: str
    type: Literal["location.service_active"]


class LightLocationServiceCanceled(TypedDict):
    """location.service_canceled"""

    created_at: str
    data: LightEnrollmentFinalizedData
    id: str
    type: Literal["location.service_canceled"]


class LightLocationUsageHistoryAvailable(TypedDict):
    """location.usage_history_available"""

    created_at: str
    data: LightEnrollmentFinalizedData
    id: str
    type: Literal["location.usage_history_available"]


class PowerboxMetersItem(TypedDict):
    """`PowerboxMetersItem`"""

    accountNumber: NotRequired[str | None]
    billingCycleId: int
    isAMI: bool
    isAMR: NotRequired[bool]
    isPrimary: bool
    meterId: str
    meterType: Literal["Electric", "Gas"]
    rateCode: str
    unitOfMeasure: NotRequired[str]


class PowerboxCustomerSitesItem(TypedDict):
    """`PowerboxCustomerSitesItem`"""

    address1: str
    address2: NotRequired[str | None]
    city: str
    externalSiteId: str
    firstName: NotRequired[str | None]
    isPrimary: bool
    lastName: NotRequired[str | None]
    meters: NotRequired[list[PowerboxMetersItem]]
    postalCode: str
    state: str


class PowerboxCustomer(TypedDict):
    """powerbox.customer.synced"""

    AcctStatus: NotRequired[str]
    businessName: NotRequired[str | None]
    clientId: str
    customerSites: NotRequired[list[PowerboxCustomerSitesItem]]
    firstName: NotRequired[str | None]
    lastName: NotRequired[str | None]


class PowerboxBindRequest(TypedDict):
    """powerbox.bind.requested"""

    actionCode: Literal[0, 1]
    hemProfileId: str
    installCode: str
    macAddress: str
    meterId: str


class PowerboxBindResult(TypedDict):
    """powerbox.bind.result"""

    action: Literal["bind", "unbind"]
    bindId: str
    hemProfileId: NotRequired[str | None]
    macAddress: NotRequired[str | None]
    meterId: str
    occurredAt: str
    outcome: Literal["pending", "bound", "unbound", "failed", "rejected"]
    reason: NotRequired[Literal["deadline_passed", "gateway_failed", "gateway_rejected", "han_full", "invalid_install_code", "meter_unreachable", "not_joined", "rejected_conflict", "rejected_wrong_device"] | None]
    round: NotRequired[int]
    state: Literal["bind_pending", "bound", "unbind_pending", "unbound", "bind_failed"] | None


WattshiftDataItem = TypedDict(
    "WattshiftDataItem",
    {
        "confidence": NotRequired[float | None],
        "endTime": str,
        "export": NotRequired[float | None],
        "import": NotRequired[float | None],
        "price": float,
        "startTime": str,
    },
)


class WattshiftData(TypedDict):
    """`WattshiftData`"""

    data: list[WattshiftDataItem]
    endTime: str
    homeId: str
    startTime: str


class WattshiftPriceSignal(TypedDict):
    """price_signal.updated"""

    createdAt: NotRequired[str]
    data: WattshiftData
    id: str
    type: str


class BrightReportEvent(TypedDict):
    """bright.report_event"""

    accountId: str
    email: NotRequired[str | None]
    eventId: NotRequired[str]
    occurredAt: NotRequired[str]
    personalNumber: NotRequired[str | None]
    type: Literal["lastSeen", "accountCreated", "accountDeleted"]
    userId: NotRequired[str | None]
    username: NotRequired[str | None]


class GridhookCustomer(TypedDict):
    """The account's owner, as the installer knows them: personal data. gridhook seals it before it publishes: in gridhook.installations the block is {personId, sealed: {field: sealed text}, indexes: {email, personalNumber: blind index}} (gridhook/person.json), readable only with the person's key, which Bright's accountDeleted or an operator's erase deletes."""

    email: NotRequired[str]
    name: str
    personalNumber: NotRequired[str]
    phone: NotRequired[str]


class GridhookOperatorAction(TypedDict):
    """Set by the operator console: `resume` an installation that needs attention (after the installer fixed what the partner refused), or `cancel` an unfinished one. It rides on the installation's document, so it is on gridhook.installations with who and when."""

    action: Literal["resume", "cancel"]
    at: str
    by: str


class GridhookPlan1(TypedDict):
    """A plan by its name, or the cheapest priced plan of a term."""

    name: str


class GridhookPlan2(TypedDict):
    """A plan by its name, or the cheapest priced plan of a term."""

    cheapestForTermMonths: int


class GridhookSolar(TypedDict):
    """`GridhookSolar`"""

    nonNetMetered: NotRequired[bool]
    sizeKw: float


class GridhookInstallation(TypedDict):
    """installation.created"""

    clientId: str
    customer: NotRequired[GridhookCustomer]
    desiredStartDate: str
    deviceMac: NotRequired[str | None]
    esiId: str
    installationId: NotRequired[str]
    lightAccountUuid: str
    meterId: str
    operatorAction: NotRequired[GridhookOperatorAction]
    plan: GridhookPlan1 | GridhookPlan2
    poaAcceptedAt: NotRequired[str]
    solar: NotRequired[GridhookSolar | None]
    zipcode: NotRequired[str]


class GridhookPerson(TypedDict):
    """gridhook.person"""

    accountId: str
    indexes: NotRequired[dict[str, str]]
    occurredAt: str
    personId: NotRequired[str]
    role: NotRequired[Literal["owner", "guest"]]
    sealed: NotRequired[dict[str, str]]


class GridhookAudit(TypedDict):
    """gridhook.audit"""

    action: Literal["login", "redrive", "replay", "reveal", "resume", "cancel"]
    at: str
    count: int
    detail: NotRequired[str | None]
    operator: str
    role: Literal["viewer", "operator"]
    target: str


class PowerboxReadsItem(TypedDict):
    """powerbox.meter.read"""

    divisor: int
    instantaneousDemand: NotRequired[int]
    multiplier: int
    readAt: str
    summationDelivered: int
    summationReceived: int
    unitOfMeasure: Literal[0]


class PowerboxMeterReads(TypedDict):
    """powerbox.meter.reads"""

    deviceMac: str
    meterId: str
    reads: list[PowerboxReadsItem]


class LightIntervalsItem(TypedDict):
    """`LightIntervalsItem`"""

    kwh: float
    start: str


class LightUsage(TypedDict):
    """light.usage.fetched"""

    accountUuid: str
    esiId: NotRequired[str | None]
    intervalMinutes: Literal[15]
    intervals: list[LightIntervalsItem]
    locationUuid: str


class GridhookInstallationEvent(TypedDict):
    """installation.step"""

    detail: NotRequired[dict[str, Any] | None]
    installationId: str
    occurredAt: str
    reason: NotRequired[str | None]
    status: str
    step: str


BODIES: dict[str, Any] = {
    "light/events/account.billing_address_updated.json": LightAccountBillingAddressUpdated,
    "light/events/account.payment_failed.json": LightAccountPaymentFailed,
    "light/events/account.payment_method_added.json": LightAccountPaymentMethodAdded,
    "light/events/account.payment_successful.json": LightAccountPaymentSuccessful,
    "light/events/enrollment.finalized.json": LightEnrollmentFinalized,
    "light/events/enrollment.identity_updated.json": LightEnrollmentIdentityUpdated,
    "light/events/enrollment.plan_accepted.json": LightEnrollmentPlanAccepted,
    "light/events/enrollment.plan_requested.json": LightEnrollmentPlanRequested,
    "light/events/location.service_active.json": LightLocationServiceActive,
    "light/events/location.service_canceled.json": LightLocationServiceCanceled,
    "light/events/location.usage_history_available.json": LightLocationUsageHistoryAvailable,
    "powerbox/customer.json": PowerboxCustomer,
    "powerbox/bind-request.json": PowerboxBindRequest,
    "powerbox/bind-result.json": PowerboxBindResult,
    "wattshift/price-signal.json": WattshiftPriceSignal,
    "bright/report-event.json": BrightReportEvent,
    "gridhook/installation.json": GridhookInstallation,
    "gridhook/person.json": GridhookPerson,
    "gridhook/audit.json": GridhookAudit,
    "powerbox/meter-reads.json": PowerboxMeterReads,
    "light/usage.json": LightUsage,
    "gridhook/installation-event.json": GridhookInstallationEvent,
}
"""Each event schema (its path under `schemas/`) and the `TypedDict` of its bodies."""
