"""Bright's Data Layer end to end on the real broker, processes and emulators: an installation
with its customer, bound device, measurements and service active; Bright's calls in seed 003's
order; then the account erased; and every process's log searched for the customer's personal
data and the API key."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession

from gridhook.contract.errors import Unreadable
from gridhook.contract.personal import open_person
from gridhook.contract.topics import INSTALLATIONS, PEOPLE
from tests.support.installation_stack import (
    Installations,
    installation_stack,
    measurement_environment,
    start_measurements,
)
from tests.support.kafka import all_end_offsets, read_between
from tests.support.waiting import eventually

API_KEY = "bright-data-layer-key-7f3a9c"
CUSTOMER = {
    "name": "Astrid Lindqvist",
    "email": "Astrid.Lindqvist@example.se",
    "phone": "+46 70 123 45 67",
    "personalNumber": "19850612-4821",
}
GUEST = {"name": "Nils Berg", "emailAddress": "nils.berg@example.se", "phoneNumber": "+46701112233"}
NEW_PHONE = "+46 70 999 88 77"


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def people_environment(workdir: Path) -> dict[str, str]:
    return {
        "GRIDHOOK_KEYS_DATABASE_URL": f"sqlite:///{workdir / 'keys.db'}",
        "GRIDHOOK_BRIGHT_API_KEYS": API_KEY,
        "GRIDHOOK_MASTER_KEYS": f"k1:{key()}",
        "GRIDHOOK_BLIND_INDEX_KEY": key(),
        "GRIDHOOK_URL_SIGNING_KEY": "url-signing-key-" + uuid.uuid4().hex,
        "GRIDHOOK_INVOICE_URL_SECONDS": "2",
    }


class Bright:
    """Bright's server calling the Data Layer with its API key."""

    def __init__(self, session: ClientSession, base: str) -> None:
        self.session, self.base = session, base + "/data-layer/v1"

    async def call(
        self, method: str, path: str, body: Any = None, acting: str | None = None, **params: str
    ) -> tuple[int, Any]:
        headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
        if acting is not None:
            headers["X-Acting-User-Id"] = acting
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(
            method, self.base + path, data=data, headers=headers, params=params
        ) as reply:
            raw = await reply.read()
            kind = reply.headers.get("Content-Type", "")
            return reply.status, raw if "pdf" in kind else (orjson.loads(raw) if raw else None)


async def ready_world(world: Installations, meter: str) -> tuple[str, str, dict[str, Any]]:
    """An installation with its customer, onboarded: the account id, location, timeline."""
    await start_measurements(world)
    account = await world.account()
    installation = await world.create(
        account, "c", meter, zipcode="78701", solar={"sizeKw": 7.6}, customer=CUSTOMER
    )
    await world.hardware_online(meter)
    done = await world.reaches(installation, "wattshift_onboarded")
    location = next(
        step["detail"]["locationUuid"]
        for step in done["timeline"]
        if step["step"] == "plan_accepted"
    )
    return account, location, done


async def test_bright_walks_the_data_layer_in_seed_order_then_the_account_is_erased(
    kafka: str, tmp_path: Path
) -> None:
    """Search by personal number and by email; every call answers the installation's data;
    the invoice PDF through its signed URL (refused once altered or expired) and streamed; an
    owner updates themself and adds a guest, who may not add one; Report Event. Then Bright
    reports the account deleted: search finds nothing, roles carry no personal datum, the
    store and the topics hold the sealed fields only and no key opens them. No process logged
    a personal datum or the API key."""
    meter = f"m-{uuid.uuid4().hex[:6]}"
    environment = measurement_environment(tmp_path, meter) | people_environment(tmp_path)
    starts = await all_end_offsets(kafka, [INSTALLATIONS, PEOPLE])
    async with installation_stack(kafka, tmp_path, {}, **environment) as world:
        account, location, done = await ready_world(world, meter)
        bright = Bright(world.stack.session, world.stack.base)

        # Search for account, by the BankID ssn and by the OAuth email (any case).
        status, found = await bright.call(
            "POST", "/accounts/search", {"personalNumber": "198506124821"}
        )
        assert status == 200, found
        assert found == {"accountId": account}
        by_email = await bright.call(
            "POST", "/accounts/search", {"email": "astrid.lindqvist@EXAMPLE.se"}
        )
        assert by_email == (200, {"accountId": account})
        assert (await bright.call("POST", "/accounts/search", {"email": "nobody@example.se"}))[
            0
        ] == 404

        # Get account, roles, locations.
        status, profile = await bright.call("GET", f"/accounts/{account}")
        assert status == 200
        owner = profile["owner"]
        assert (owner["name"], owner["emailAddress"]) == (CUSTOMER["name"], CUSTOMER["email"])
        status, roles = await bright.call("GET", f"/accounts/{account}/roles")
        assert [(r["role"], r["user"]["phoneNumber"]) for r in roles] == [
            ("owner", CUSTOMER["phone"])
        ]
        status, places = await bright.call("GET", f"/accounts/{account}/locations")
        assert [place["id"] for place in places] == [location]
        service = places[0]["services"][0]

        # Agreements: the accepted plan at its chosen price.
        chosen = next(step["detail"] for step in done["timeline"] if step["step"] == "plan_chosen")
        status, agreements = await bright.call("GET", f"/services/{service['id']}/agreements")
        assert status == 200
        assert [(a["name"], a["energyRate"]["price"]) for a in agreements] == [
            (chosen["planName"], round(chosen["price"] / 100, 9))
        ]

        # Invoices: Light bills a whole month of service (its days last 0.3 s here).
        async def billed() -> list[dict[str, Any]] | None:
            status, invoices = await bright.call("GET", f"/accounts/{account}/invoices")
            return invoices if status == 200 and invoices else None

        invoices = await eventually(billed, 60, "Light's first invoice")
        assert invoices is not None
        invoice = invoices[0]
        assert invoice["amountDue"] > 0

        # Measurements, products, cost: a whole day after service started.
        start = next(a["start"] for a in agreements)
        day = {"from": start, "to": (await world.light_today()).isoformat()}
        status, measured = await bright.call(
            "GET", f"/measurements/{service['measurementId']}", **day
        )
        assert status == 200
        assert sum(i["import"] or 0 for i in measured["intervals"]) > 0
        status, products = await bright.call("GET", f"/services/{service['id']}/products")
        assert {p["type"] for p in products} == {"electricity_plan", "price_signals", "device"}
        status, cost = await bright.call("GET", f"/costs/{service['costId']}", **day)
        assert status == 200
        # A net-metered 7.6 kW home exports more than it imports: a credit.
        assert math.isclose(
            cost["total"], sum(i["cost"] or 0 for i in cost["intervals"]), abs_tol=1e-3
        )
        assert cost["total"] < 0

        # The invoice PDF: through its signed URL (refused altered, and expired), and streamed.
        invoice_path = f"/accounts/{account}/invoices/{invoice['id']}"
        status, link = await bright.call("GET", invoice_path + "/url")
        assert status == 200
        session = world.stack.session
        async with session.get(link["url"]) as reply:
            assert (reply.status, (await reply.read())[:5]) == (200, b"%PDF-")
        altered = link["url"][:-3] + ("AAA" if not link["url"].endswith("AAA") else "BBB")
        async with session.get(altered) as reply:
            assert reply.status == 403
        await asyncio.sleep(3)  # the URL lives 2 s here
        async with session.get(link["url"]) as reply:
            assert reply.status == 403
        status, pdf = await bright.call("GET", invoice_path + "/stream")
        assert (status, pdf[:5]) == (200, b"%PDF-")
        other = f"/accounts/{uuid.uuid4()}/invoices/{invoice['id']}/url"
        assert (await bright.call("GET", other))[0] == 404

        # Update user (the owner themself), add user (a guest), and what a guest may not do.
        me = owner["id"]
        status, _ = await bright.call("PATCH", f"/users/{me}", {"phoneNumber": NEW_PHONE}, me)
        assert status == 200
        status, added = await bright.call("POST", f"/accounts/{account}/users", GUEST, me)
        assert status == 201
        guest = added["id"]
        status, roles = await bright.call("GET", f"/accounts/{account}/roles")
        assert {(r["role"], r["user"]["phoneNumber"]) for r in roles} == {
            ("owner", NEW_PHONE),
            ("guest", GUEST["phoneNumber"]),
        }
        refused = await bright.call("POST", f"/accounts/{account}/users", GUEST, guest)
        assert refused[0] == 403
        assert (await bright.call("PATCH", f"/users/{me}", {"phoneNumber": NEW_PHONE}, guest))[
            0
        ] == 403

        # Report Event, then the account deleted: erasure.
        seen = {"type": "lastSeen", "accountId": account, "userId": me, "email": CUSTOMER["email"]}
        assert (await bright.call("POST", "/events", seen))[0] == 200
        deleted = {"type": "accountDeleted", "accountId": account, "userId": me}
        assert (await bright.call("POST", "/events", deleted))[0] == 200

        async def forgotten() -> bool:
            status, _ = await bright.call("POST", "/accounts/search", {"email": CUSTOMER["email"]})
            return status == 404

        await eventually(forgotten, 30, "the erased owner no longer found")
        status, roles = await bright.call("GET", f"/accounts/{account}/roles")
        assert status == 200
        assert all(
            r["user"]["name"] is None and r["user"]["emailAddress"] is None for r in roles
        ), roles
        status, places = await bright.call("GET", f"/accounts/{account}/locations")
        assert [place["id"] for place in places] == [location]  # non-personal data stays

        ends = await all_end_offsets(kafka, [INSTALLATIONS, PEOPLE])
        records = await read_between(kafka, starts, ends)
    personal = [*CUSTOMER.values(), NEW_PHONE, *GUEST.values(), "198506124821"]
    state = (tmp_path / "state.db").read_bytes() + _wal(tmp_path / "state.db")
    mine = [r for r in records if (r.value or b"").find(account.encode()) >= 0]
    assert mine, "the installation and people records are in the topics"
    for datum in personal:
        assert datum.encode() not in state, "a personal datum in the store's file"
        assert all(datum.encode() not in (r.value or b"") for r in records)
    keys_left = sqlite3.connect(tmp_path / "keys.db").execute("SELECT count(*) FROM person_keys")
    assert keys_left.fetchone() == (0,), "every key of the account is deleted"
    _assert_sealed_records_stay_sealed(mine)
    _assert_no_log_holds(tmp_path, [*personal, API_KEY])


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def _assert_sealed_records_stay_sealed(records: list[Any]) -> None:
    """Every sealed field in the records is a sealed text, and (its key gone) no other key
    opens it: a fresh key, as an attacker holding the records would try."""
    for record in records:
        document = orjson.loads(record.value or b"{}")
        block = document.get("customer") or document
        sealed = block.get("sealed") if isinstance(block, dict) else None
        if not sealed:
            continue
        assert all(text.startswith("v1:") for text in sealed.values())
        person = block.get("personId")
        with pytest.raises(Unreadable):
            open_person(os.urandom(32), person, sealed)


def _assert_no_log_holds(workdir: Path, secrets: list[str]) -> None:
    """No process log holds any of `secrets`: raw, JSON-escaped, or as UTF-8 bytes."""
    logs = list(workdir.glob("*.log"))
    assert logs
    for log in logs:
        raw = log.read_bytes()
        for secret in secrets:
            for form in {secret, json.dumps(secret)[1:-1], secret.replace("+", "\\u002b")}:
                assert form.encode() not in raw, f"{log.name} holds a personal datum or key"
