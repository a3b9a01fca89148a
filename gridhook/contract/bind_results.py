"""What a bind result says: its outcome, and for a failure or rejection, a reason from this
list. CIS teams act on these codes; the README lists them and a test keeps it in step."""

from __future__ import annotations

PENDING, BOUND, UNBOUND, FAILED, REJECTED = "pending", "bound", "unbound", "failed", "rejected"
OUTCOMES = (PENDING, BOUND, UNBOUND, FAILED, REJECTED)

INVALID_INSTALL_CODE = "invalid_install_code"
HAN_FULL = "han_full"
METER_UNREACHABLE = "meter_unreachable"
DEADLINE_PASSED = "deadline_passed"
NOT_JOINED = "not_joined"
GATEWAY_REJECTED = "gateway_rejected"
GATEWAY_FAILED = "gateway_failed"
REJECTED_CONFLICT = "rejected_conflict"
REJECTED_WRONG_DEVICE = "rejected_wrong_device"

REASONS: dict[str, str] = {
    INVALID_INSTALL_CODE: "failed: the head-end refused the device's install code",
    HAN_FULL: "failed: the meter's HAN holds as many devices as it can",
    METER_UNREACHABLE: "failed: the meter's radio was unreachable on every attempt",
    DEADLINE_PASSED: "failed: no outcome within GRIDHOOK_BIND_DEADLINE (a later join is "
    "still reconciled: a `bound` result follows)",
    NOT_JOINED: "unbound: the device was not on the HAN when the unbind reached it",
    GATEWAY_REJECTED: "failed: the head-end refused the request itself (4xx)",
    GATEWAY_FAILED: "failed: the head-end gave a reason gridhook does not know",
    REJECTED_CONFLICT: "rejected: the meter is bound or has a request in flight (bind), or "
    "holds no device (unbind); its state is unchanged",
    REJECTED_WRONG_DEVICE: "rejected: the unbind names another device than the one bound",
}

HEAD_END_REASONS = frozenset({INVALID_INSTALL_CODE, HAN_FULL, METER_UNREACHABLE, NOT_JOINED})
"""The failure reasons the head-end gives that gridhook passes on as they are."""
