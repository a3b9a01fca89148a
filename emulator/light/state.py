"""The Light emulator's durable state and Light's rules for client-agent enrollment.

SQLite through aiosqlite (the emulator survives its own restart). Every client-agent call is
logged with its outcome (`calls`), so a test can count the accepts an account ever got. Dates
and times are Light's (`emulator.scaled_time`): plans expire 5 business days after they are
priced, the service start date must be 7 to 30 days after Light's today, and service becomes
active on that date, announced by a `location.service_active` webhook due then.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from emulator import outbox
from emulator.light import webhooks
from emulator.partner_api import Refused
from emulator.scaled_time import add_business_days
from emulator.sqlite import SqliteState
from gridhook.contract.codec import format_time
from gridhook.contract.settings import Calendar

CREATED = "created"
PENDING_CLIENT_AGENT = "enrollment_pending_client_agent"
CREDIT_CHECK_FROZEN = "credit_check_frozen"
ENROLLMENT_FINALIZED = "enrollment_finalized"
SERVICE_ACTIVE = "service_active"

TOKEN_SECONDS = 3600.0
PLAN_BUSINESS_DAYS = 5
EARLIEST_START_DAYS, LATEST_START_DAYS = 7, 30

# name, term in months, price in cents per kWh
CATALOGUE = (
    ("Light Flex", 1, 16.9),
    ("Light Simple 12", 12, 14.2),
    ("Light Solar Saver 12", 12, 13.7),
    ("Light Simple 24", 24, 13.9),
)

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS accounts (
    uuid TEXT PRIMARY KEY,
    account_number TEXT NOT NULL,
    created_at TEXT NOT NULL,
    identity_verified INTEGER NOT NULL,
    payment_method INTEGER NOT NULL,
    billing_address INTEGER NOT NULL,
    credit_frozen_until REAL,
    client_agent_accepted_at TEXT
);
CREATE TABLE IF NOT EXISTS plans (
    uuid TEXT PRIMARY KEY,
    account_uuid TEXT NOT NULL,
    esi_id TEXT NOT NULL,
    name TEXT NOT NULL,
    term_months INTEGER NOT NULL,
    price REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS locations (
    uuid TEXT PRIMARY KEY,
    account_uuid TEXT NOT NULL UNIQUE,
    esi_id TEXT NOT NULL,
    plan_uuid TEXT NOT NULL,
    plan_name TEXT NOT NULL,
    service_start_date TEXT NOT NULL,
    accepted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    account_uuid TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    at REAL NOT NULL,
    light_date TEXT NOT NULL,
    account_uuid TEXT NOT NULL,
    call TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""
    + outbox.SCHEMA
)


@dataclass(frozen=True)
class Account:
    uuid: str
    account_number: str
    created_at: str
    identity_verified: bool
    payment_method: bool
    billing_address: bool
    credit_frozen_until: float | None
    client_agent_accepted_at: str | None
    location: dict[str, Any] | None


class LightState(SqliteState):
    """All reads and writes of the emulator's SQLite file, and Light's rules."""

    schema = _SCHEMA

    def __init__(
        self,
        path: Path,
        calendar: Calendar,
        stale_plans: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(path, calendar, clock)
        self._stale_plans = stale_plans

    # accounts

    async def create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        """An account with the prerequisites `body` says are done (all, by default); its
        credit check frozen for `credit_frozen_days` of Light's days when given."""
        async with self.lock:
            account_uuid = str(body.get("uuid") or uuid.uuid4())
            frozen_days = float(body.get("credit_frozen_days") or 0)
            frozen_until = self.calendar.timestamp() + frozen_days * 86_400 if frozen_days else None
            cursor = await self.db.execute(
                "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    account_uuid,
                    str(body.get("account_number") or secrets.randbelow(10**8)).zfill(8),
                    format_time(self.calendar.now()),
                    int(body.get("identity_verified", True)),
                    int(body.get("payment_method", True)),
                    int(body.get("billing_address_confirmed", True)),
                    frozen_until,
                ),
            )
            await self.db.commit()
            if not cursor.rowcount:
                raise Refused(409, "account_exists")
            return await self.account_json(account_uuid)

    async def account(self, account_uuid: str) -> Account:
        async with self.db.execute(
            "SELECT uuid, account_number, created_at, identity_verified, payment_method,"
            " billing_address, credit_frozen_until, client_agent_accepted_at"
            " FROM accounts WHERE uuid = ?",
            (account_uuid,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise Refused(404, "account_not_found")
        async with self.db.execute(
            "SELECT uuid, esi_id, plan_uuid, plan_name, service_start_date"
            " FROM locations WHERE account_uuid = ?",
            (account_uuid,),
        ) as cursor:
            found = await cursor.fetchone()
        location = None
        if found is not None:
            active = self.calendar.today() >= date.fromisoformat(found[4])
            location = {
                "uuid": found[0],
                "esi_id": found[1],
                "plan_uuid": found[2],
                "plan_name": found[3],
                "service_start_date": found[4],
                "final_service_date": None,
                "is_service_active": active,
                "has_usage_history": False,
            }
        return Account(
            row[0], row[1], row[2], bool(row[3]), bool(row[4]), bool(row[5]), row[6], row[7],
            location,
        )  # fmt: skip

    def status(self, account: Account) -> str:
        if account.location is not None:
            return (
                SERVICE_ACTIVE if account.location["is_service_active"] else (ENROLLMENT_FINALIZED)
            )
        frozen = account.credit_frozen_until
        if frozen is not None and frozen > self.calendar.timestamp():
            return CREDIT_CHECK_FROZEN
        if account.identity_verified and account.payment_method and account.billing_address:
            return PENDING_CLIENT_AGENT
        return CREATED

    async def account_json(self, account_uuid: str) -> dict[str, Any]:
        return self._to_json(await self.account(account_uuid))

    def _to_json(self, account: Account) -> dict[str, Any]:
        location = account.location
        accepted = location is not None
        return {
            "uuid": account.uuid,
            "account_number": account.account_number,
            "created_at": account.created_at,
            "status": self.status(account),
            "client_agent_accepted": account.client_agent_accepted_at is not None,
            "client_agent_accepted_at": account.client_agent_accepted_at,
            "enrollment": {
                "has_accepted_plan": accepted,
                "has_payment_method": account.payment_method,
                "is_billing_address_confirmed": account.billing_address,
                "is_identity_verified": account.identity_verified,
                "is_enrollment_finalized": accepted,
                "is_service_active": bool(location and location["is_service_active"]),
            },
            "locations": [] if location is None else [location],
        }

    # client-agent enrollment

    async def record_client_agent(self, account_uuid: str, accepted_at: str | None) -> None:
        async with self.lock:
            await self.account(account_uuid)
            await self.db.execute(
                "UPDATE accounts SET client_agent_accepted_at = ? WHERE uuid = ?",
                (accepted_at or format_time(self.calendar.now()), account_uuid),
            )
            await self._log(account_uuid, "record-client-agent", "recorded")
            await self.db.commit()

    async def request_plans(self, account_uuid: str, esi_id: str) -> list[dict[str, Any]]:
        """Priced plans for the ESI ID, expiring after 5 business days (already expired for
        the first `stale_plans` pricings of each account: fault injection)."""
        async with self.lock:
            account = await self.account(account_uuid)
            if self.status(account) == CREDIT_CHECK_FROZEN:
                await self._log(account_uuid, "plans/request", CREDIT_CHECK_FROZEN)
                await self.db.commit()
                raise Refused(409, CREDIT_CHECK_FROZEN)
            async with self.db.execute(
                "SELECT COUNT(*) FROM calls"
                " WHERE account_uuid = ? AND call = 'plans/request' AND outcome = 'priced'",
                (account_uuid,),
            ) as cursor:
                row = await cursor.fetchone()
            earlier = int(row[0]) if row else 0
            now = self.calendar.now()
            expires = add_business_days(now, PLAN_BUSINESS_DAYS)
            if earlier < self._stale_plans:
                expires = now - timedelta(seconds=1)
            plans = []
            for name, term, price in CATALOGUE:
                plan_uuid = str(uuid.uuid4())
                await self.db.execute(
                    "INSERT INTO plans VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (plan_uuid, account_uuid, esi_id, name, term, price, expires.timestamp()),
                )
                plans.append(
                    {
                        "uuid": plan_uuid,
                        "name": name,
                        "term_months": term,
                        "price_cents_per_kwh": price,
                        "expires_at": format_time(expires),
                    }
                )
            await self._log(account_uuid, "plans/request", "priced")
            await self.db.commit()
            return plans

    async def mint_token(self, account_uuid: str) -> dict[str, Any]:
        async with self.lock:
            await self.account(account_uuid)
            token = "acct_" + secrets.token_urlsafe(24)
            expires_at = self._clock() + TOKEN_SECONDS
            await self.db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?)", (token, account_uuid, expires_at)
            )
            await self.db.commit()
            return {"token": token, "expires_in": int(TOKEN_SECONDS)}

    async def usage_location(self, account_uuid: str, location_uuid: str) -> tuple[str, date]:
        """The ESI ID and service start date of the account's location; 404 when the account
        has no such location."""
        async with self.db.execute(
            "SELECT esi_id, service_start_date FROM locations WHERE uuid = ? AND account_uuid = ?",
            (location_uuid, account_uuid),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise Refused(404, "location_not_found")
        return str(row[0]), date.fromisoformat(row[1])

    async def billing(self, account_uuid: str) -> tuple[str, str, str, date, float] | None:
        """The account number, location uuid, ESI ID, service start and plan price (cents per
        kWh) of the account's enrolled location; None before any."""
        async with self.db.execute(
            "SELECT a.account_number, l.uuid, l.esi_id, l.service_start_date, p.price"
            " FROM locations l JOIN accounts a ON a.uuid = l.account_uuid"
            " JOIN plans p ON p.uuid = l.plan_uuid WHERE l.account_uuid = ?",
            (account_uuid,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return str(row[0]), str(row[1]), str(row[2]), date.fromisoformat(row[3]), float(row[4])

    async def account_of_token(self, token: str) -> str | None:
        async with self.db.execute(
            "SELECT account_uuid, expires_at FROM tokens WHERE token = ?", (token,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[1] <= self._clock():
            return None
        return str(row[0])

    async def accept(self, account_uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Accept a plan on the account's behalf, by Light's rules; logged with its outcome.
        On success the location exists, enrollment is finalized, and the webhooks are due."""
        async with self.lock:
            try:
                location = await self._accept(account_uuid, body)
            except Refused as refused:
                await self._log(account_uuid, "plans/accept", refused.code)
                await self.db.commit()
                raise
            await self._log(account_uuid, "plans/accept", "accepted")
            account = self._to_json(await self.account(account_uuid))
            await webhooks.enqueue_enrollment(self.db, self.calendar, account, location)
            await self.db.commit()
            return account

    async def _accept(self, account_uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        plan_uuid, esi_id = body.get("plan_uuid"), body.get("esi_id")
        if not isinstance(plan_uuid, str) or not isinstance(esi_id, str):
            raise Refused(400, "invalid_request")
        if body.get("terms_accepted") is not True:
            raise Refused(400, "terms_not_accepted")
        try:
            start = date.fromisoformat(str(body.get("service_start_date")))
        except ValueError:
            raise Refused(400, "invalid_service_start_date") from None
        account = await self.account(account_uuid)
        if account.location is not None:
            raise Refused(409, "plan_already_accepted")
        if account.client_agent_accepted_at is None:
            raise Refused(403, "client_agent_not_recorded")
        status = self.status(account)
        if status == CREDIT_CHECK_FROZEN:
            raise Refused(409, CREDIT_CHECK_FROZEN)
        if status != PENDING_CLIENT_AGENT:
            raise Refused(409, "enrollment_incomplete")
        async with self.db.execute(
            "SELECT esi_id, name, expires_at FROM plans WHERE uuid = ? AND account_uuid = ?",
            (plan_uuid, account_uuid),
        ) as cursor:
            plan = await cursor.fetchone()
        if plan is None:
            raise Refused(404, "plan_not_found")
        if plan[0] != esi_id:
            raise Refused(400, "esi_id_mismatch")
        if plan[2] <= self.calendar.timestamp():
            raise Refused(409, "plan_expired")
        today = self.calendar.today()
        earliest = today + timedelta(days=EARLIEST_START_DAYS)
        if not earliest <= start <= today + timedelta(days=LATEST_START_DAYS):
            raise Refused(400, "invalid_service_start_date")
        location_uuid = str(uuid.uuid4())
        await self.db.execute(
            "INSERT INTO locations VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                location_uuid, account_uuid, esi_id, plan_uuid, plan[1], start.isoformat(),
                format_time(self.calendar.now()),
            ),
        )  # fmt: skip
        return {"uuid": location_uuid, "service_start_date": start.isoformat()}

    async def calls(self, account_uuid: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT at, light_date, account_uuid, call, outcome FROM calls"
        arguments: tuple[str, ...] = ()
        if account_uuid is not None:
            query += " WHERE account_uuid = ?"
            arguments = (account_uuid,)
        async with self.db.execute(query + " ORDER BY rowid", arguments) as cursor:
            rows = await cursor.fetchall()
        return [
            {"at": r[0], "lightDate": r[1], "accountUuid": r[2], "call": r[3], "outcome": r[4]}
            for r in rows
        ]

    async def _log(self, account_uuid: str, call: str, outcome: str) -> None:
        await self.db.execute(
            "INSERT INTO calls VALUES (?, ?, ?, ?, ?)",
            (self._clock(), self.calendar.today().isoformat(), account_uuid, call, outcome),
        )
