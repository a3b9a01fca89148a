"""The emulator's durable state: bind requests, the devices joined to each meter's HAN, and a
log of every join (to show that no device was ever joined twice). SQLite through aiosqlite, so
the emulator survives its own restart."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiosqlite
import orjson

from emulator.sqlite import SqliteState

PENDING, JOINED, LEFT, FAILED = "pending", "joined", "left", "failed"
TRANSIENT_REASONS = frozenset({"meter_unreachable"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    bind_id TEXT PRIMARY KEY,
    meter_id TEXT NOT NULL,
    mac TEXT NOT NULL,
    install_code TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL,
    due_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    meter_id TEXT NOT NULL,
    mac TEXT NOT NULL,
    bind_id TEXT NOT NULL,
    joined_at REAL NOT NULL,
    PRIMARY KEY (meter_id, mac)
);
CREATE TABLE IF NOT EXISTS registers (
    meter_id TEXT NOT NULL,
    mac TEXT NOT NULL,
    read_at REAL NOT NULL,
    delivered_wh REAL NOT NULL,
    received_wh REAL NOT NULL,
    delivered_base INTEGER NOT NULL,
    received_base INTEGER NOT NULL,
    silent_until REAL NOT NULL,
    PRIMARY KEY (meter_id, mac)
);
CREATE TABLE IF NOT EXISTS pending_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    due REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS joins (
    meter_id TEXT NOT NULL,
    mac TEXT NOT NULL,
    bind_id TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Request:
    bind_id: str
    meter_id: str
    mac: str
    install_code: str
    action: str
    status: str
    reason: str | None
    attempts: int
    due_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "bindId": self.bind_id,
            "meterId": self.meter_id,
            "macAddress": self.mac,
            "action": self.action,
            "status": self.status,
            "reason": self.reason,
            "transient": self.reason in TRANSIENT_REASONS,
            "attempts": self.attempts,
        }


def normalise_mac(mac: str) -> str:
    """Upper-case hex pairs separated by ':' (one device, one spelling)."""
    digits = "".join(ch for ch in mac if ch.isalnum()).upper()
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


@dataclass
class Register:
    """A joined device's view of its meter's registers: what they counted since the device
    joined (exact Wh), on top of where they stood (`*_base`, raw), read up to `read_at`
    (seconds of the calendar)."""

    meter_id: str
    mac: str
    read_at: float
    delivered_wh: float
    received_wh: float
    delivered_base: int
    received_base: int
    silent_until: float


class EmulatorState(SqliteState):
    """All reads and writes of the emulator's SQLite file."""

    schema = _SCHEMA

    async def opened(self) -> None:
        """A device joined before the emulator read meters has registers from now on."""
        await self.db.execute(
            "INSERT OR IGNORE INTO registers SELECT meter_id, mac, ?, 0, 0, 0, 0, 0 FROM devices",
            (self.calendar.timestamp(),),
        )

    # -- the joined devices' registers and their reads ----------------------------------

    async def registers(self) -> list[Register]:
        async with self.db.execute("SELECT * FROM registers ORDER BY meter_id, mac") as cursor:
            return [Register(*row) for row in await cursor.fetchall()]

    async def save_register(
        self, register: Register, reads: list[tuple[dict[str, Any], float]]
    ) -> None:
        """Record where `register` stands and the reads to send, in one transaction."""
        await self.db.execute(
            "UPDATE registers SET read_at = ?, delivered_wh = ?, received_wh = ?,"
            " silent_until = ? WHERE meter_id = ? AND mac = ?",
            (
                register.read_at, register.delivered_wh, register.received_wh,
                register.silent_until, register.meter_id, register.mac,
            ),
        )  # fmt: skip
        await self.db.executemany(
            "INSERT INTO pending_reads (body, due) VALUES (?, ?)",
            [(orjson.dumps(read).decode(), due) for read, due in reads],
        )
        await self.db.commit()

    async def due_reads(self, now: float, limit: int) -> list[tuple[int, dict[str, Any]]]:
        async with self.db.execute(
            "SELECT id, body FROM pending_reads WHERE due <= ? ORDER BY id LIMIT ?", (now, limit)
        ) as cursor:
            return [(int(row[0]), orjson.loads(row[1])) for row in await cursor.fetchall()]

    async def forget_reads(self, ids: list[int]) -> None:
        await self.db.executemany("DELETE FROM pending_reads WHERE id = ?", [(i,) for i in ids])
        await self.db.commit()

    async def set_register(self, meter_id: str, delivered: int, received: int) -> bool:
        """Make the meter's registers read `delivered` and `received` (raw) now; False when no
        device is joined to it."""
        async with self.lock:
            cursor = await self.db.execute(
                "UPDATE registers SET delivered_base = ? - CAST(delivered_wh AS INTEGER),"
                " received_base = ? - CAST(received_wh AS INTEGER) WHERE meter_id = ?",
                (delivered, received, meter_id),
            )
            await self.db.commit()
            return bool(cursor.rowcount)

    async def exchange(self, meter_id: str) -> bool:
        """The meter is exchanged: its registers restart from 0; False when no device is
        joined to it."""
        async with self.lock:
            cursor = await self.db.execute(
                "UPDATE registers SET delivered_wh = 0, received_wh = 0, delivered_base = 0,"
                " received_base = 0 WHERE meter_id = ?",
                (meter_id,),
            )
            await self.db.commit()
            return bool(cursor.rowcount)

    async def request(self, bind_id: str) -> Request | None:
        async with self.db.execute("SELECT * FROM requests WHERE bind_id = ?", (bind_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _request(row)

    async def submit(
        self, bind_id: str, meter_id: str, mac: str, install_code: str, action: str, due_at: float
    ) -> Request:
        """Record a request, idempotently on `bind_id`: a known request is returned unchanged,
        except one that failed transiently, which is armed again for another attempt."""
        existing = await self.request(bind_id)
        now = time.time()
        if existing is None:
            await self.db.execute(
                "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, NULL, 1, ?, ?)",
                (bind_id, meter_id, normalise_mac(mac), install_code, action, PENDING, due_at, now),
            )
        elif existing.status == FAILED and existing.reason in TRANSIENT_REASONS:
            await self.db.execute(
                "UPDATE requests SET status = ?, reason = NULL, attempts = attempts + 1,"
                " due_at = ?, updated_at = ? WHERE bind_id = ?",
                (PENDING, due_at, now, bind_id),
            )
        else:
            return existing
        await self.db.commit()
        stored = await self.request(bind_id)
        assert stored is not None
        return stored

    async def pending(self) -> list[Request]:
        async with self.db.execute("SELECT * FROM requests WHERE status = ?", (PENDING,)) as cur:
            return [_request(row) for row in await cur.fetchall()]

    async def finish(self, bind_id: str, status: str, reason: str | None) -> None:
        await self.db.execute(
            "UPDATE requests SET status = ?, reason = ?, updated_at = ? WHERE bind_id = ?",
            (status, reason, time.time(), bind_id),
        )
        await self.db.commit()

    async def devices(self, meter_id: str) -> list[dict[str, Any]]:
        async with self.db.execute(
            "SELECT mac, bind_id, joined_at FROM devices WHERE meter_id = ? ORDER BY joined_at",
            (meter_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [
            {"macAddress": r["mac"], "bindId": r["bind_id"], "joinedAt": r["joined_at"]}
            for r in rows
        ]

    async def join_counts(self, meter_id: str) -> dict[str, int]:
        async with self.db.execute(
            "SELECT mac, COUNT(*) AS n FROM joins WHERE meter_id = ? GROUP BY mac", (meter_id,)
        ) as cur:
            return {row["mac"]: row["n"] for row in await cur.fetchall()}

    async def join(self, request: Request, max_devices: int) -> tuple[str, str | None]:
        """Join the request's device to its meter's HAN: the outcome status and reason."""
        joined = await self.devices(request.meter_id)
        if any(device["macAddress"] == request.mac for device in joined):
            return JOINED, None  # already on the HAN: nothing to do, never a second join
        if len(joined) >= max_devices:
            return FAILED, "han_full"
        now = time.time()
        await self.db.execute(
            "INSERT INTO devices VALUES (?, ?, ?, ?)",
            (request.meter_id, request.mac, request.bind_id, now),
        )
        await self.db.execute(
            "INSERT INTO joins VALUES (?, ?, ?, ?)",
            (request.meter_id, request.mac, request.bind_id, now),
        )
        await self.db.execute(
            "INSERT OR REPLACE INTO registers VALUES (?, ?, ?, 0, 0, 0, 0, 0)",
            (request.meter_id, request.mac, self.calendar.timestamp()),
        )
        return JOINED, None

    async def leave(self, request: Request) -> tuple[str, str | None]:
        cursor = await self.db.execute(
            "DELETE FROM devices WHERE meter_id = ? AND mac = ?", (request.meter_id, request.mac)
        )
        await self.db.execute(
            "DELETE FROM registers WHERE meter_id = ? AND mac = ?", (request.meter_id, request.mac)
        )
        return (LEFT, None) if cursor.rowcount else (FAILED, "not_joined")


def _request(row: aiosqlite.Row) -> Request:
    return Request(
        bind_id=row["bind_id"],
        meter_id=row["meter_id"],
        mac=row["mac"],
        install_code=row["install_code"],
        action=row["action"],
        status=row["status"],
        reason=row["reason"],
        attempts=row["attempts"],
        due_at=row["due_at"],
    )
