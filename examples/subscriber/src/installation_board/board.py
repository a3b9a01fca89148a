"""The board: its tables, the handler that updates them, and the queries that read them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridhook.subscriber import (
    Event,
    SqliteSeenEvents,
    Subscription,
    bodies,
    body_of,
)

INSTALLATION_EVENTS = "gridhook.installations.events"
LIGHT_EVENTS = "light.events"
GROUP = "installation-board"
DEAD_LETTERS = "installation-board.dlq"

_TABLES = """
CREATE TABLE IF NOT EXISTS installations (
    installation_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, step TEXT NOT NULL,
    status TEXT NOT NULL, occurred_at TEXT NOT NULL, steps INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    account_uuid TEXT PRIMARY KEY, tenant TEXT NOT NULL, last_change TEXT NOT NULL,
    enrollment_finalized INTEGER, changes INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Installation:
    installation_id: str
    step: str
    status: str
    steps: int


@dataclass(frozen=True)
class Account:
    account_uuid: str
    last_change: str
    enrollment_finalized: bool | None
    changes: int


class Board:
    """The board in one SQLite file, written in the same transaction as the events' ids."""

    def __init__(self, path: Path) -> None:
        self.seen = SqliteSeenEvents(path)
        self._db = self.seen.connection
        self._db.executescript(_TABLES)

    def subscription(self) -> Subscription:
        """What the board consumes: every installation step, Light's account changes."""
        return Subscription(
            group=GROUP,
            topics=(INSTALLATION_EVENTS, LIGHT_EVENTS),
            handler=self.handle,
            event_types=frozenset({"installation.*", "account.*", "enrollment.*"}),
            dead_letter_topic=DEAD_LETTERS,
            seen=self.seen,
        )

    async def handle(self, event: Event[Any]) -> None:
        """Apply one event; the kit commits it with the event's id after this returns."""
        if event.topic == INSTALLATION_EVENTS:
            step = body_of(event, bodies.GridhookInstallationEvent)
            self._db.execute(
                "INSERT INTO installations VALUES (?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (installation_id) DO UPDATE SET step = excluded.step, "
                "status = excluded.status, occurred_at = excluded.occurred_at, "
                "steps = steps + 1 WHERE excluded.occurred_at >= occurred_at",
                (
                    step["installationId"],
                    event.tenant,
                    step["step"],
                    step["status"],
                    step["occurredAt"],
                ),
            )
        else:
            account = event.body["data"]["account"]
            finalized = account.get("enrollment", {}).get("is_enrollment_finalized")
            self._db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, 1) "
                "ON CONFLICT (account_uuid) DO UPDATE SET last_change = excluded.last_change, "
                "enrollment_finalized = coalesce(excluded.enrollment_finalized, "
                "enrollment_finalized), changes = changes + 1",
                (account["uuid"], event.tenant, event.type, finalized),
            )

    def installation(self, installation_id: str) -> Installation | None:
        row = self._db.execute(
            "SELECT installation_id, step, status, steps FROM installations "
            "WHERE installation_id = ?",
            (installation_id,),
        ).fetchone()
        return None if row is None else Installation(*row)

    def account(self, account_uuid: str) -> Account | None:
        row = self._db.execute(
            "SELECT account_uuid, last_change, enrollment_finalized, changes FROM accounts "
            "WHERE account_uuid = ?",
            (account_uuid,),
        ).fetchone()
        if row is None:
            return None
        uuid, change, finalized, changes = row
        return Account(uuid, change, None if finalized is None else bool(finalized), changes)

    def close(self) -> None:
        self.seen.close()
