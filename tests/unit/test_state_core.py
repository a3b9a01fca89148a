"""The pure state core: fact merging and state transitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridhook.contract.codec import CloudEvent
from gridhook.contract.errors import UnapplicableEvent
from gridhook.contract.identifiers import hem_profile_id
from gridhook.state.facts import Fact, Facts, merge
from gridhook.state.kinds import (
    LIGHT_ACCOUNT,
    LIGHT_LOCATION,
    POWERBOX_BIND,
    POWERBOX_CUSTOMER,
    POWERBOX_METER,
)
from gridhook.state.transitions import event_time, updates_for
from tests.support.state_events import (
    ACCOUNT,
    CLIENT,
    EXPECTED,
    METER,
    apply_all,
    history,
    light,
)

State = dict[tuple[str, str], Facts]

_facts = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.builds(
        Fact,
        value=st.integers(0, 3),
        at=st.sampled_from(["2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z"]),
        event_id=st.sampled_from(["e1", "e2", "e3"]),
    ),
)


@given(_facts, _facts, _facts)
def test_merge_is_commutative_associative_and_idempotent(a: Facts, b: Facts, c: Facts) -> None:
    """The laws that make the final state independent of arrival order and redelivery."""
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(merge(a, b), b) == merge(a, b)


def test_older_fact_never_overwrites_a_newer_one() -> None:
    newer = {"status": Fact("canceled", "2026-02-01T00:00:00.000000Z", "e2")}
    older = {"status": Fact("active", "2026-01-01T00:00:00.000000Z", "e1")}
    assert merge(newer, older) == newer


def test_light_history_sets_every_enrollment_fact() -> None:
    """Each known Light event type sets its fact with the event's own time."""
    state = apply_all([e for e in history() if e[0] == "light.events"])
    account = state[(LIGHT_ACCOUNT, ACCOUNT)]
    for name in (
        "plan_requested",
        "plan_accepted",
        "identity_verified",
        "payment_method_added",
        "billing_address_confirmed",
        "enrollment_finalized",
    ):
        assert account[name].value is True, name
    assert account["last_payment"].value == "successful"
    assert account["last_payment"].at == "2026-11-01T12:30:00.000000Z"
    location = state[(LIGHT_LOCATION, "loc-1")]
    assert location["service_status"].value == "canceled"
    assert location["usage_history_available"].value is True


def test_powerbox_customer_and_bind_cycle() -> None:
    """Customer sync sets AcctStatus and lists its meters; bind results record each request's
    steps under the meter (the meter's bind state itself is the forwarder's table's)."""
    state = apply_all([e for e in history() if e[0] != "light.events"])
    customer_facts = state[(POWERBOX_CUSTOMER, CLIENT)]
    assert customer_facts["acct_status"].value == "A"
    assert customer_facts["hem_profile_id"].value == hem_profile_id(CLIENT)
    assert customer_facts[f"meter:{METER}"].value is True
    meter = state[(POWERBOX_METER, METER)]
    assert meter[f"listed_by:{CLIENT}"].value["isAMI"] is True
    last = state[(POWERBOX_BIND, "bind-7")]
    assert last["result"].value["state"] == "unbound"
    assert last["parent"].value == METER


def test_malformed_records_are_unapplicable() -> None:
    """A body that is not JSON, or lacks the entity id, is a permanent error."""
    _, event, _ = light("enrollment.finalized", 1)
    broken = CloudEvent(event.id, event.source, event.type, event.time, event.key, b"{nope")
    with pytest.raises(UnapplicableEvent, match="JSON"):
        updates_for("light.events", broken, 0)
    no_account = CloudEvent(
        event.id, event.source, event.type, event.time, event.key, b'{"data":{}}'
    )
    with pytest.raises(UnapplicableEvent, match="account"):
        updates_for("light.events", no_account, 0)


IN_ORDER = history()


@settings(max_examples=300, deadline=None)
@given(
    order=st.permutations(range(len(IN_ORDER))),
    repeats=st.lists(st.integers(0, len(IN_ORDER) - 1), max_size=10),
)
def test_any_arrival_order_with_duplicates_reaches_the_in_order_state(
    order: list[int], repeats: list[int]
) -> None:
    """Late, reordered and redelivered events end in exactly the in-order state."""
    shuffled = [IN_ORDER[i] for i in order]
    for position, index in enumerate(repeats):
        shuffled.insert(position * 3 % (len(shuffled) + 1), IN_ORDER[index])
    assert apply_all(shuffled) == EXPECTED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-22T05:19:43.123456789Z", "2026-11-22T05:19:43.123456Z"),
        ("2026-11-22T05:19:43Z", "2026-11-22T05:19:43.000000Z"),
        ("2026-11-22T06:19:43.5+01:00", "2026-11-22T05:19:43.500000Z"),
        ("2026-11-22 05:19:43.1234567+00:00", "2026-11-22T05:19:43.123456Z"),
    ],
)
def test_event_times_of_any_precision_normalise_to_utc_microseconds(
    raw: str, expected: str
) -> None:
    """Nanosecond timestamps (which the schemas accept) are applied, not dead-lettered."""
    assert event_time(raw) == expected
