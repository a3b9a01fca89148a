"""Bright state: when an account was created, deleted and last seen; no personal datum.

Bright's reports carry an email, a username and a personal number: none of them is kept here
(only the account id, the event type and times). An account deleted stays deleted whatever
comes later, unless an `accountCreated` newer than the deletion arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridhook.state.facts import Fact, Facts

_FACTS = {"accountCreated": "created", "accountDeleted": "deleted", "lastSeen": "last_seen"}


def bright_facts(event_type: str, at: str, event_id: str) -> Facts:
    """What one report at `at` says: its type, and the time it happened under its name."""
    facts = {"last_event": Fact(event_type, at, event_id)}
    name = _FACTS.get(event_type)
    if name is not None:
        facts[name] = Fact(at, at, event_id)
    return facts


@dataclass(frozen=True)
class BrightAccount:
    status: str
    created_at: str | None
    deleted_at: str | None
    last_seen_at: str | None


def bright_account(facts: Facts) -> BrightAccount:
    """`deleted` when a deletion is newer than the latest creation; last seen only while not."""
    created, deleted = facts.get("created"), facts.get("deleted")
    seen = facts.get("last_seen")
    is_deleted = deleted is not None and (created is None or created.at <= deleted.at)
    return BrightAccount(
        status="deleted" if is_deleted else "active",
        created_at=None if created is None else created.at,
        deleted_at=None if deleted is None else deleted.at,
        last_seen_at=None if is_deleted or seen is None else seen.at,
    )
