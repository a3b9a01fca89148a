"""Which bind requests a meter's bind state allows: pure rules shared by the ingress (its fast
check, answered 409) and the bind forwarder (the arbiter, answered `rejected`)."""

from __future__ import annotations

BIND, UNBIND = "bind", "unbind"
BIND_STATES = ("unbound", "bind_pending", "bound", "unbind_pending", "bind_failed")

# A bind conflicts with a meter that holds a device or has a request in flight; an unbind
# conflicts with a meter that holds none or has a request in flight.
_CONFLICTS = {
    BIND: frozenset({"bound", "bind_pending", "unbind_pending"}),
    UNBIND: frozenset({"unbound", "bind_failed", "bind_pending", "unbind_pending"}),
}


def conflicts(action: str, state: str) -> bool:
    """True when a request of `action` (bind or unbind) cannot start on a meter in `state`."""
    return state in _CONFLICTS[action]


def pending_state(action: str) -> str:
    """The state a meter is in while a request of `action` is driven."""
    return "bind_pending" if action == BIND else "unbind_pending"
