"""PowerBox state, pure: customer versions in the order Kafka accepted them, removed sites and
meters, meters that move between customers."""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gridhook.state.kinds import POWERBOX_CUSTOMER, POWERBOX_METER
from gridhook.state.powerbox import (
    current_listing,
    meter_listing,
    owners_of,
    reconcile_customer,
)
from tests.support.partner_payloads import customer_body
from tests.support.state_events import Recorded, apply_all, customer_record


def sync(client: str, seq: int, meters: list[str], status: str = "A", minute: int = 0) -> Recorded:
    """A customer sync of `client` at offset `seq`, its meters on one site each."""
    body = customer_body(client, meters, status=status, site_per_meter=True, first_name="Jane")
    return customer_record(body, f"{client}:v{seq}", seq, minute)


def test_versions_follow_the_offset_not_the_receipt_time() -> None:
    """Two replicas with skewed clocks: the sync Kafka accepted later wins, whatever its time."""
    first = sync("c1", seq=10, meters=["m1"], status="A", minute=60)
    second = sync("c1", seq=11, meters=["m1"], status="S", minute=0)
    for order in ([first, second], [second, first]):
        assert apply_all(order)[(POWERBOX_CUSTOMER, "c1")]["acct_status"].value == "S"


def test_a_status_round_trip_ends_where_it_started() -> None:
    """A, then S, then the first payload again: active, each sync a version of its own."""
    state = apply_all([sync("c1", 1, ["m1"]), sync("c1", 2, ["m1"], "S"), sync("c1", 3, ["m1"])])
    customer = state[(POWERBOX_CUSTOMER, "c1")]
    assert customer["acct_status"].value == "A"
    assert customer["version"].value == "c1:v3"


def test_a_meter_left_out_of_a_later_sync_is_removed_with_provenance() -> None:
    """Absent from the newer sync: the meter and its site are marked removed by that sync."""
    state = apply_all([sync("c1", 1, ["m1", "m2"]), sync("c1", 2, ["m1"])])
    customer = state[(POWERBOX_CUSTOMER, "c1")]
    assert customer["meter:m1"].value is True
    removed = customer["meter:m2"]
    assert (removed.value, removed.event_id, removed.seq) == (False, "c1:v2", 2)
    assert customer["site:site-m2"].value is False
    assert customer["site_info:site-m2"].value["city"] == "Detroit"


def test_no_name_from_a_sync_reaches_the_store() -> None:
    """Site contacts' names are personal data: the state keeps none of them."""
    state = apply_all([sync("c1", 1, ["m1"])])
    assert b"Jane" not in orjson.dumps({str(k): str(v) for k, v in state.items()})


def test_a_meter_that_moves_to_another_customer_is_shown_with_its_new_owner() -> None:
    """Move-out, move-in: c1 drops the meter, c2 lists it; each in its own partition."""
    state = apply_all([sync("c1", 5, ["m1"]), sync("c1", 6, []), sync("c2", 1, ["m1"])])
    meter = state[(POWERBOX_METER, "m1")]
    listings = [
        listing
        for client in owners_of(meter)
        if (listing := meter_listing(client, state[(POWERBOX_CUSTOMER, client)], "m1", meter))
    ]
    current = current_listing(listings)
    assert current is not None
    assert (current.client_id, current.present) == ("c2", True)


def test_reconciliation_is_idempotent() -> None:
    once = apply_all([sync("c1", 1, ["m1", "m2"]), sync("c1", 2, ["m2"])])[
        (POWERBOX_CUSTOMER, "c1")
    ]
    assert reconcile_customer(once) == once


LISTINGS = [["m1", "m2"], ["m2"], ["m1", "m3"], [], ["m3"]]
SYNCS = [sync("c1", seq, meters) for seq, meters in enumerate(LISTINGS)]


@settings(max_examples=300, deadline=None)
@given(
    picked=st.lists(st.sampled_from(range(len(SYNCS))), min_size=1, max_size=8),
    rng=st.randoms(use_true_random=False),
)
def test_any_order_and_duplicates_of_syncs_end_in_the_in_order_state(
    picked: list[int], rng: random.Random
) -> None:
    """Replayed and redelivered versions, applied in any order: the newest listing rules."""
    events = [SYNCS[i] for i in picked]
    in_order = apply_all(sorted(events, key=lambda e: e.seq))
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert apply_all(shuffled) == in_order
    customer = in_order[(POWERBOX_CUSTOMER, "c1")]
    present = {
        name.removeprefix("meter:")
        for name, fact in customer.items()
        if name.startswith("meter:") and fact.value
    }
    assert present == set(LISTINGS[max(picked)])
