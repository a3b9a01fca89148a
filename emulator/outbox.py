"""A partner's webhooks, as a partner sends them: from a durable outbox, at least once.

An emulator writes each webhook into the outbox in the same SQLite transaction as the change it
announces, due at once or at a later time (Light's `location.service_active` is due on the
service start date). The `Deliverer` posts each due webhook to its URL with the headers the
partner's scheme gives it (signed when it is sent, so the timestamp is fresh): a 2xx delivers
it; a 5xx, a timeout or a refused connection is tried again with a growing wait (at most a
minute), so webhooks sent while gridhook's ingress is down arrive once it is back; a 4xx is
given up, as real senders do, and logged. The outbox survives the emulator's restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiosqlite

from gridhook.contract.retries import Backoff

log = logging.getLogger("gridhook.emulator.webhooks")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at REAL,
    gave_up INTEGER NOT NULL DEFAULT 0
);
"""

SignHeaders = Callable[[bytes, str], Mapping[str, str]]
_RETRY = Backoff(cap=60.0, first=0.5)
"""The wait before a webhook's next attempt, scheduled in the outbox (a minute at most)."""


@dataclass(frozen=True)
class Webhook:
    event_id: str
    event_type: str
    body: bytes
    attempts: int


async def enqueue(
    db: aiosqlite.Connection, event_id: str, event_type: str, body: bytes, due_at: float
) -> None:
    """Add a webhook to the outbox (inside the caller's transaction; it commits)."""
    await db.execute(
        "INSERT OR IGNORE INTO outbox (event_id, event_type, body, due_at) VALUES (?, ?, ?, ?)",
        (event_id, event_type, body, due_at),
    )


async def deliveries(db: aiosqlite.Connection) -> list[dict[str, object]]:
    """Every webhook in the outbox and how far its delivery got (for tests and operators)."""
    async with db.execute(
        "SELECT event_id, event_type, due_at, attempts, delivered_at, gave_up FROM outbox"
        " ORDER BY due_at, rowid"
    ) as cursor:
        rows = await cursor.fetchall()
    return [
        {
            "eventId": row[0],
            "type": row[1],
            "dueAt": row[2],
            "attempts": row[3],
            "deliveredAt": row[4],
            "gaveUp": bool(row[5]),
        }
        for row in rows
    ]


class Deliverer:
    """Posts the outbox's due webhooks to `url`, one at a time, in the order they fell due
    (then were written)."""

    def __init__(
        self,
        path: Path,
        url: str,
        sign_headers: SignHeaders,
        timeout: float = 10.0,
    ) -> None:
        self._path = path
        self._db_connection: aiosqlite.Connection | None = None
        self._url = url
        self._sign_headers = sign_headers
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def _db(self) -> aiosqlite.Connection:
        assert self._db_connection is not None, "Deliverer.start() was not awaited"
        return self._db_connection

    async def start(self) -> None:
        """Open its own connection to the emulator's file (the handlers' transactions stay
        theirs) and begin delivering."""
        self._db_connection = await aiosqlite.connect(self._path, timeout=30)
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._task = asyncio.create_task(self._run(), name="webhook-deliverer")

    def wake(self) -> None:
        """Something was enqueued: look at the outbox now."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()
        if self._db_connection is not None:
            await self._db_connection.close()

    async def _run(self) -> None:
        while True:
            webhook, next_due = await self._next()
            if webhook is None:
                wait = 1.0 if next_due is None else max(0.0, min(1.0, next_due - time.time()))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            await self._deliver(webhook)

    async def _next(self) -> tuple[Webhook | None, float | None]:
        async with self._db.execute(
            "SELECT event_id, event_type, body, attempts, due_at FROM outbox"
            " WHERE delivered_at IS NULL AND gave_up = 0 ORDER BY due_at, rowid LIMIT 1"
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None, None
        if row[4] > time.time():
            return None, float(row[4])
        return Webhook(row[0], row[1], bytes(row[2]), int(row[3])), None

    async def _deliver(self, webhook: Webhook) -> None:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        headers.update(self._sign_headers(webhook.body, webhook.event_id))
        status: int | None = None
        try:
            async with self._session.post(self._url, data=webhook.body, headers=headers) as reply:
                status = reply.status
                await reply.read()
        except (aiohttp.ClientError, TimeoutError):
            status = None
        attempts = webhook.attempts + 1
        if status is not None and 200 <= status < 300:
            await self._db.execute(
                "UPDATE outbox SET delivered_at = ?, attempts = ? WHERE event_id = ?",
                (time.time(), attempts, webhook.event_id),
            )
        elif status is not None and 400 <= status < 500:
            await self._db.execute(
                "UPDATE outbox SET gave_up = 1, attempts = ? WHERE event_id = ?",
                (attempts, webhook.event_id),
            )
            log.warning(
                "webhook refused, not sent again",
                extra={"fields": {"type": webhook.event_type, "status": status}},
            )
        else:
            wait = _RETRY.delay(attempts)
            await self._db.execute(
                "UPDATE outbox SET due_at = ?, attempts = ? WHERE event_id = ?",
                (time.time() + wait, attempts, webhook.event_id),
            )
        await self._db.commit()
