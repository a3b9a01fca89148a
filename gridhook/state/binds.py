"""The bind domain: one PowerBox bind or unbind request, the states a meter passes through, the
outcomes a request reaches and why, and the rules that decide them. Pure; every part of the
bind path uses this module: the ingress (its fast check, answered 409), the bind forwarder's
arbiter (`gridhook.state.meter_binds`, answered `rejected`), the driver (outcomes at the
head-end) and the state applier (each request's steps).

    unbound ──bind──▶ bind_pending ──joined──▶ bound ──unbind──▶ unbind_pending ──left──▶ unbound
                           │                                          │
                           └──failed──▶ bind_failed        failed ────┘ (the device stays: bound)

A bind conflicts with a meter that holds a device or has a request in flight; an unbind with
a meter that holds none or has a request in flight, or that holds another device than the one
named. A conflicting request changes nothing: it is refused at the ingress (409) or, when it
raced past that check, published as `rejected` with its reason.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gridhook.contract.codec import CloudEvent, format_time
from gridhook.contract.errors import Conflict, InvalidBindRequest, UnapplicableEvent
from gridhook.state.facts import PARENT, EntityUpdate, Fact, Facts
from gridhook.state.kinds import POWERBOX_BIND


class BindAction(enum.StrEnum):
    """What a request asks: PowerBox's `actionCode` 1 binds, 0 unbinds."""

    BIND = "bind"
    UNBIND = "unbind"

    @classmethod
    def of_code(cls, action_code: object) -> BindAction:
        """The action of an `actionCode`; `ValueError` for any other code."""
        if action_code == 1 and not isinstance(action_code, bool):
            return cls.BIND
        if action_code == 0 and not isinstance(action_code, bool):
            return cls.UNBIND
        raise ValueError("actionCode must be 1 (bind) or 0 (unbind)")

    @property
    def pending(self) -> BindState:
        """The state a meter is in while a request of this action is driven."""
        return BindState.BIND_PENDING if self is BindAction.BIND else BindState.UNBIND_PENDING

    @property
    def failed(self) -> BindState:
        """The state a failed request leaves: a failed unbind leaves the device bound."""
        return BindState.BIND_FAILED if self is BindAction.BIND else BindState.BOUND


class BindState(enum.StrEnum):
    """A meter's bind state."""

    UNBOUND = "unbound"
    BIND_PENDING = "bind_pending"
    BOUND = "bound"
    UNBIND_PENDING = "unbind_pending"
    BIND_FAILED = "bind_failed"

    @property
    def holds_device(self) -> bool:
        return self in (BindState.BOUND, BindState.UNBIND_PENDING)


class Outcome(enum.StrEnum):
    """What a bind result record says happened: each request publishes `pending`, then one of
    the others (`rejected` alone when it conflicted)."""

    PENDING = "pending"
    BOUND = "bound"
    UNBOUND = "unbound"
    FAILED = "failed"
    REJECTED = "rejected"


class Reason(enum.StrEnum):
    """Why a request failed or was rejected. CIS teams act on these codes; the docs list them
    with `REASONS` and a test keeps the two in step."""

    INVALID_INSTALL_CODE = "invalid_install_code"
    HAN_FULL = "han_full"
    METER_UNREACHABLE = "meter_unreachable"
    DEADLINE_PASSED = "deadline_passed"
    NOT_JOINED = "not_joined"
    GATEWAY_REJECTED = "gateway_rejected"
    GATEWAY_FAILED = "gateway_failed"
    REJECTED_CONFLICT = "rejected_conflict"
    REJECTED_WRONG_DEVICE = "rejected_wrong_device"


REASONS: dict[Reason, str] = {
    Reason.INVALID_INSTALL_CODE: "failed: the head-end refused the device's install code",
    Reason.HAN_FULL: "failed: the meter's HAN holds as many devices as it can",
    Reason.METER_UNREACHABLE: "failed: the meter's radio was unreachable on every attempt",
    Reason.DEADLINE_PASSED: "failed: no outcome within GRIDHOOK_BIND_DEADLINE (a later join is "
    "still reconciled: a `bound` result follows)",
    Reason.NOT_JOINED: "unbound: the device was not on the HAN when the unbind reached it",
    Reason.GATEWAY_REJECTED: "failed: the head-end refused the request itself (4xx)",
    Reason.GATEWAY_FAILED: "failed: the head-end gave a reason gridhook does not know",
    Reason.REJECTED_CONFLICT: "rejected: the meter is bound or has a request in flight (bind), "
    "or holds no device (unbind); its state is unchanged",
    Reason.REJECTED_WRONG_DEVICE: "rejected: the unbind names another device than the one bound",
}

HEAD_END_REASONS = frozenset(
    {Reason.INVALID_INSTALL_CODE, Reason.HAN_FULL, Reason.METER_UNREACHABLE, Reason.NOT_JOINED}
)
"""The failure reasons the head-end gives that gridhook passes on as they are."""

_CONFLICTS = {
    BindAction.BIND: frozenset({BindState.BOUND, BindState.BIND_PENDING, BindState.UNBIND_PENDING}),
    BindAction.UNBIND: frozenset(
        {
            BindState.UNBOUND,
            BindState.BIND_FAILED,
            BindState.BIND_PENDING,
            BindState.UNBIND_PENDING,
        }
    ),
}

_REFUSALS = {
    Reason.REJECTED_CONFLICT: "the meter's bind state does not allow this request",
    Reason.REJECTED_WRONG_DEVICE: "the unbind names another device than the one bound",
}


@dataclass(frozen=True)
class BindRequest:
    """One PowerBox bind or unbind; `bind_id` is its CloudEvents id (the ingress gives each
    accepted request a new one: a bind is not idempotent)."""

    bind_id: str
    meter_id: str
    action: BindAction
    mac: str
    install_code: str
    hem_profile_id: str | None

    @classmethod
    def parse(cls, bind_id: str, body: Mapping[str, Any]) -> BindRequest:
        """The request a body carries; `InvalidBindRequest` when a field is missing or wrong."""
        try:
            return cls(
                bind_id=bind_id,
                meter_id=str(body["meterId"]),
                action=BindAction.of_code(body["actionCode"]),
                mac=str(body["macAddress"]),
                install_code=str(body["installCode"]),
                hem_profile_id=body.get("hemProfileId"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidBindRequest(
                f"bind request lacks a field: {type(error).__name__}"
            ) from None

    @classmethod
    def of_event(cls, event: CloudEvent) -> BindRequest:
        """The request a `powerbox.bind.requests` event carries."""
        try:
            body = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise InvalidBindRequest("bind request is not JSON") from None
        if not isinstance(body, dict):
            raise InvalidBindRequest("bind request is not a JSON object")
        return cls.parse(event.id, body)


@dataclass(frozen=True)
class MeterBind:
    """A meter's bind state now: the request that last changed it, the device it holds, and
    why the last request failed."""

    state: BindState = BindState.UNBOUND
    bind_id: str | None = None
    device_mac: str | None = None
    reason: str | None = None
    updated_at: str | None = None


def same_device(first: str | None, second: str | None) -> bool:
    """True when two MAC/EUI-64 spellings name one device (separators and case aside)."""
    if first is None or second is None:
        return False
    return _digits(first) == _digits(second)


_SEPARATORS = str.maketrans("", "", ":-. ")


def _digits(mac: str) -> str:
    return mac.translate(_SEPARATORS).upper()


def conflict(action: BindAction, meter: MeterBind, mac: str) -> Reason | None:
    """Why a request of `action` for device `mac` cannot start on `meter` now, or None."""
    if meter.state in _CONFLICTS[action]:
        return Reason.REJECTED_CONFLICT
    if action is BindAction.UNBIND and not same_device(meter.device_mac, mac):
        return Reason.REJECTED_WRONG_DEVICE
    return None


def refusal(reason: Reason) -> Conflict:
    """The ingress's answer to a request that conflicts for `reason` (409)."""
    return Conflict(_REFUSALS[reason])


def final_outcome(action: BindAction, state: BindState) -> Outcome:
    """The outcome a request that leaves its meter in `state` publishes."""
    if action is BindAction.BIND:
        return Outcome.BOUND if state is BindState.BOUND else Outcome.FAILED
    return Outcome.UNBOUND if state is BindState.UNBOUND else Outcome.FAILED


# -- one bind's steps, as the state applier records them ----------------------------------


def request_updates(event: CloudEvent, seq: int) -> list[EntityUpdate]:
    """An accepted request (`powerbox.bind.requests` at offset `seq`): its bind id is known,
    submitted, before any result."""
    try:
        request = BindRequest.of_event(event)
    except InvalidBindRequest as error:
        raise UnapplicableEvent(str(error)) from None
    described = {
        "meterId": request.meter_id,
        "action": str(request.action),
        "macAddress": request.mac,
        "hemProfileId": request.hem_profile_id,
    }
    at = format_time(event.time)
    facts = {
        "request": Fact(described, at, event.id, seq),
        PARENT: Fact(request.meter_id, at, event.id, seq),
    }
    return [EntityUpdate(POWERBOX_BIND, event.id, facts)]


def result_updates(
    event: CloudEvent, body: Mapping[str, Any], at: str, seq: int
) -> list[EntityUpdate]:
    """A result (`powerbox.bind.results` at offset `seq`, at `at`): one step of its request."""
    try:
        meter_id, bind_id = str(body["meterId"]), str(body["bindId"])
        outcome = Outcome(body["outcome"])
        state = None if body["state"] is None else BindState(body["state"])
    except (KeyError, ValueError):
        raise UnapplicableEvent(
            "bind result lacks meterId, bindId, a known outcome or state"
        ) from None

    def fact(value: Any) -> Fact:
        return Fact(value, at, event.id, seq)

    step = {"outcome": str(outcome), "state": state and str(state), "reason": body.get("reason")}
    facts: Facts = {
        "result": fact(step | {"round": body.get("round", 1)}),
        f"step:{outcome}": fact(step),
        PARENT: fact(meter_id),
    }
    return [EntityUpdate(POWERBOX_BIND, bind_id, facts)]


@dataclass(frozen=True)
class BindView:
    """One request as the read API shows it: what it asked, where it is, and its steps."""

    bind_id: str
    meter_id: str | None
    action: str | None
    mac: str | None
    status: str
    state: str | None
    reason: str | None
    round: int
    submitted_at: str | None
    updated_at: str | None
    steps: list[dict[str, Any]]


def bind_view(bind_id: str, facts: Facts) -> BindView:
    """The request `bind_id` from its recorded steps (`submitted` before any result)."""
    submitted, result, meter = facts.get("request"), facts.get("result"), facts.get(PARENT)
    described = submitted.value if submitted is not None else {}
    steps = sorted(
        (
            {"outcome": fact.value["outcome"], "reason": fact.value["reason"], "at": fact.at}
            for name, fact in facts.items()
            if name.startswith("step:")
        ),
        key=lambda step: step["at"],
    )
    return BindView(
        bind_id=bind_id,
        meter_id=described.get("meterId") or (meter.value if meter is not None else None),
        action=described.get("action"),
        mac=described.get("macAddress"),
        status=result.value["outcome"] if result is not None else "submitted",
        state=result.value["state"] if result is not None else None,
        reason=result.value["reason"] if result is not None else None,
        round=result.value.get("round", 1) if result is not None else 1,
        submitted_at=None if submitted is None else submitted.at,
        updated_at=_at(result) or _at(submitted),
        steps=steps,
    )


def _at(fact: Fact | None) -> str | None:
    return None if fact is None else fact.at
