"""Bright accounts (deletion, and no personal datum kept) and WattShift's price now."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gridhook.contract.codec import CloudEvent
from gridhook.state.bright import bright_account
from gridhook.state.kinds import BRIGHT_ACCOUNT
from gridhook.state.store import Store
from gridhook.state.transitions import RECONCILERS
from gridhook.state.wattshift import current_interval
from tests.support.partner_payloads import bright_event, price_signal
from tests.support.state_events import START, Recorded, applications, apply_all

PERSONAL = ("karin.svensson@example.se", "19811218-9876", "karin")


def report(kind: str, minute: int, account: str = "br-1") -> Recorded:
    body = bright_event(kind) | {
        "accountId": account,
        "occurredAt": f"2026-11-22T10:{minute:02d}:00Z",
    }
    event = CloudEvent(
        id=f"{kind}-{minute}",
        source="bright",
        type=kind,
        time=START,
        key=account.encode(),
        data=orjson.dumps(body),
    )
    return Recorded("bright.events", event, minute)


def test_a_deleted_account_stays_deleted_until_a_newer_creation() -> None:
    created, deleted = report("accountCreated", 1), report("accountDeleted", 5)
    seen_after, created_again = report("lastSeen", 9), report("accountCreated", 12)
    gone = bright_account(apply_all([created, deleted, seen_after])[(BRIGHT_ACCOUNT, "br-1")])
    assert (gone.status, gone.deleted_at, gone.last_seen_at) == (
        "deleted",
        "2026-11-22T10:05:00.000000Z",
        None,
    )
    late_old_creation = report("accountCreated", 3)
    still = bright_account(apply_all([deleted, late_old_creation])[(BRIGHT_ACCOUNT, "br-1")])
    assert still.status == "deleted", "a creation older than the deletion does not revive it"
    back = bright_account(apply_all([deleted, created_again])[(BRIGHT_ACCOUNT, "br-1")])
    assert back.status == "active"


async def test_the_store_keeps_no_personal_datum_of_bright(tmp_path: Path) -> None:
    """Created, seen and deleted, with email, username and personal number in every body: the
    database files hold none of them."""
    database = tmp_path / "state.db"
    store = Store(f"sqlite:///{database}", writer=True)
    await store.migrate()
    events = [report("accountCreated", 1), report("lastSeen", 2), report("accountDeleted", 3)]
    await store.apply(applications(events), reconcilers=RECONCILERS)
    assert (await store.entity(BRIGHT_ACCOUNT, "br-1")) is not None
    await store.close()
    files = [path for path in tmp_path.iterdir() if path.name.startswith("state.db")]
    assert files
    for path in files:
        content = path.read_bytes()
        for datum in PERSONAL:
            assert datum.encode() not in content, f"{datum} found in {path.name}"


def test_the_current_price_is_the_interval_holding_now() -> None:
    signal: dict[str, Any] = price_signal()["data"]
    signal["data"] = [
        {"startTime": "2026-11-22T00:00:00Z", "endTime": "2026-11-22T06:00:00Z", "price": 0.11},
        {"startTime": "2026-11-22T06:00:00Z", "endTime": "2026-11-22T09:00:00Z", "price": 0.3},
    ]
    at = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    assert current_interval(signal, at) == signal["data"][1]
    assert current_interval(signal, datetime(2026, 11, 22, 10, tzinfo=UTC)) is None
