"""The WattShift emulator's durable state: utilities by zip code, homes, solar systems, and a
log of every call. SQLite through aiosqlite, so the emulator survives its own restart.

`homes/create` honours an `Idempotency-Key` header (**assumed**: seed 001 names none): the same
key returns the home it created before, so a client retrying after a timeout never makes a
second home. Each new home gets a day of prices, sent as a `price_signal.updated` webhook.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from emulator import outbox
from emulator.partner_api import Refused
from emulator.sqlite import SqliteState
from gridhook.contract.codec import format_time

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS homes (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    name TEXT NOT NULL,
    zipcode TEXT NOT NULL,
    utility_id TEXT NOT NULL,
    rate_plan_id TEXT NOT NULL,
    features TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS solar (
    home_id TEXT PRIMARY KEY,
    size_kw REAL NOT NULL,
    non_net_metered INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    at REAL NOT NULL,
    call TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""
    + outbox.SCHEMA
)

# Texas utilities by the first two digits of the zip code; the rate-plan ids repeat across
# plans, as in the seed's sample.
_TEXAS = {
    "75": ("oncor", "Oncor Electric Delivery"),
    "76": ("oncor", "Oncor Electric Delivery"),
    "77": ("centerpoint", "CenterPoint Energy"),
    "78": ("aep_central", "AEP Texas Central"),
    "79": ("tnmp", "Texas-New Mexico Power"),
}
_RATE_PLANS = (
    {"id": "rp_tou_1", "ratePlanName": "Time of Use"},
    {"id": "rp_flat_1", "ratePlanName": "Flat Rate"},
    {"id": "rp_flat_1", "ratePlanName": "Flat Rate (Legacy)"},
)
_FEATURES = (
    "hasEvCharger",
    "hasElectricHeater",
    "hasSmartWaterHeater",
    "hasElectricWaterHeater",
    "hasAC",
    "acType",
)


@dataclass(frozen=True)
class Home:
    id: str
    created: bool


def utilities(zipcode: str) -> list[dict[str, Any]]:
    """The utilities serving `zipcode` (none outside Texas, as far as the emulator knows)."""
    found = _TEXAS.get(zipcode[:2])
    if found is None:
        return []
    utility_id, name = found
    return [{"utilityId": utility_id, "utilityName": name, "wsRatePlans": list(_RATE_PLANS)}]


def price_signal(home_id: str, now: datetime) -> dict[str, Any]:
    """A day of prices from the start of `now`'s hour: cheap at night, dear in the afternoon;
    contiguous intervals of equal price grouped, as WattShift does."""
    start = now.replace(minute=0, second=0, microsecond=0)
    intervals: list[dict[str, Any]] = []
    for hour in range(24):
        begins = start + timedelta(hours=hour)
        price = 0.09 if begins.hour < 6 else 0.21 if 15 <= begins.hour < 20 else 0.13
        if intervals and intervals[-1]["price"] == price:
            intervals[-1]["endTime"] = format_time(begins + timedelta(hours=1))
            continue
        intervals.append(
            {
                "startTime": format_time(begins),
                "endTime": format_time(begins + timedelta(hours=1)),
                "price": price,
                "import": price,
                "export": round(price * 0.4, 4),
                "confidence": 0.9,
            }
        )
    return {
        "homeId": home_id,
        "startTime": format_time(start),
        "endTime": format_time(start + timedelta(hours=24)),
        "data": intervals,
    }


SIGNAL_DAYS = 30
"""How many days of prices a new home is sent, one webhook a day."""


class WattShiftState(SqliteState):
    """All reads and writes of the emulator's SQLite file."""

    schema = _SCHEMA

    async def log(self, call: str, subject: str, outcome: str) -> None:
        async with self.lock:
            await self._log(call, subject, outcome)
            await self.db.commit()

    async def create_home(self, body: dict[str, Any], idempotency_key: str | None) -> Home:
        """A home for a known utility and rate plan; the one made before for the same key."""
        async with self.lock:
            if idempotency_key is not None:
                async with self.db.execute(
                    "SELECT id FROM homes WHERE idempotency_key = ?", (idempotency_key,)
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None:
                    await self._log("homes/create", str(row[0]), "replayed")
                    await self.db.commit()
                    return Home(str(row[0]), created=False)
            zipcode, utility_id = str(body["zipcode"]), str(body["utilityId"])
            known = {utility["utilityId"]: utility for utility in utilities(zipcode)}
            if utility_id not in known:
                raise Refused(400, "unknown_utility")
            plans = {plan["id"] for plan in known[utility_id]["wsRatePlans"]}
            if str(body["ratePlanId"]) not in plans:
                raise Refused(400, "unknown_rate_plan")
            home_id = f"ws_home_{uuid.uuid4().hex[:16]}"
            features = {name: body[name] for name in _FEATURES if name in body}
            await self.db.execute(
                "INSERT INTO homes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    home_id, idempotency_key, str(body["name"]), zipcode, utility_id,
                    str(body["ratePlanId"]), orjson.dumps(features).decode(), time.time(),
                ),
            )  # fmt: skip
            await self._announce_prices(home_id)
            await self._log("homes/create", home_id, "created")
            await self.db.commit()
            return Home(home_id, created=True)

    async def _announce_prices(self, home_id: str) -> None:
        """A day of prices for the rest of today, at once, then each of the next
        `SIGNAL_DAYS` days' at its start (the calendar's days): webhooks in the outbox."""
        now = self.calendar.now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for day in range(SIGNAL_DAYS + 1):
            starts = now if day == 0 else midnight + timedelta(days=day)
            event_id = f"evt_{uuid.uuid4().hex}"
            event = {
                "id": event_id,
                "type": "price_signal.updated",
                "createdAt": format_time(starts),
                "data": price_signal(home_id, starts),
            }
            due = self.calendar.real_time_of(starts)
            body = orjson.dumps(event)
            await outbox.enqueue(self.db, event_id, "price_signal.updated", body, due)

    async def add_solar(self, home_id: str, size_kw: float, non_net_metered: bool) -> None:
        """Record the home's solar system (again: the same answer, the latest size)."""
        async with self.lock:
            async with self.db.execute("SELECT 1 FROM homes WHERE id = ?", (home_id,)) as cursor:
                if await cursor.fetchone() is None:
                    raise Refused(404, "home_not_found")
            await self.db.execute(
                "INSERT INTO solar VALUES (?, ?, ?) ON CONFLICT (home_id) DO UPDATE"
                " SET size_kw = excluded.size_kw, non_net_metered = excluded.non_net_metered",
                (home_id, size_kw, int(non_net_metered)),
            )
            await self._log("homes/solar/create", home_id, "recorded")
            await self.db.commit()

    async def home(self, home_id: str) -> dict[str, Any]:
        async with self.db.execute(
            "SELECT h.id, h.name, h.zipcode, h.utility_id, h.rate_plan_id, h.features,"
            " s.size_kw, s.non_net_metered FROM homes h LEFT JOIN solar s ON s.home_id = h.id"
            " WHERE h.id = ?",
            (home_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise Refused(404, "home_not_found")
        solar = None if row[6] is None else {"sizeKw": row[6], "isNonNetMetered": bool(row[7])}
        return {
            "id": row[0],
            "name": row[1],
            "zipcode": row[2],
            "utilityId": row[3],
            "ratePlanId": row[4],
            **orjson.loads(row[5]),
            "solar": solar,
        }

    async def calls(self) -> list[dict[str, Any]]:
        async with self.db.execute(
            "SELECT at, call, subject, outcome FROM calls ORDER BY rowid"
        ) as cursor:
            rows = await cursor.fetchall()
        return [{"at": r[0], "call": r[1], "subject": r[2], "outcome": r[3]} for r in rows]

    async def _log(self, call: str, subject: str, outcome: str) -> None:
        await self.db.execute(
            "INSERT INTO calls VALUES (?, ?, ?, ?)", (time.time(), call, subject, outcome)
        )
