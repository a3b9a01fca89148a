"""Where a subscriber remembers the events it handled, so a redelivered one is skipped.

Kafka delivers at least once: after a crash, a rebalance or a replay a subscriber sees records
again. `Subscription` asks its `SeenEvents` before handing an event over (`seen`), tells it
when the handler returned (`remember`) and when the handler failed (`abandon`). Effectively
once holds when `remember` makes the handler's effects and the event id durable together: that
is what `SqliteSeenEvents` does for a handler writing through its `connection`. A team whose
state lives elsewhere implements the three methods on its own store, in its own transaction.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Protocol


class SeenEvents(Protocol):
    """The ids (`ce_id`) of the events a subscriber has handled."""

    async def seen(self, event_id: str) -> bool:
        """Whether the event was handled before."""
        ...

    async def remember(self, event_id: str) -> None:
        """The handler returned: make its effects and `event_id` durable together."""
        ...

    async def abandon(self) -> None:
        """The handler failed: undo whatever it did not make durable."""
        ...


class InMemorySeenEvents:
    """Seen ids in a set: for tests, and for handlers whose effects are idempotent anyway."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def seen(self, event_id: str) -> bool:
        return event_id in self.ids

    async def remember(self, event_id: str) -> None:
        self.ids.add(event_id)

    async def abandon(self) -> None:
        return None


class SqliteSeenEvents:
    """Seen ids in a SQLite file, in the same transaction as the handler's writes.

    The handler writes through `connection` and never commits; `remember` records the id and
    commits both, `abandon` rolls both back. So an event is handled once, whatever stops the
    subscriber between two statements.
    """

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level="DEFERRED")
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY, at REAL)"
        )
        self.connection.commit()

    async def seen(self, event_id: str) -> bool:
        found = self.connection.execute(
            "SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return found is not None

    async def remember(self, event_id: str) -> None:
        self.connection.execute(
            "INSERT INTO seen_events (event_id, at) VALUES (?, ?)", (event_id, time.time())
        )
        self.connection.commit()

    async def abandon(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        self.connection.close()
