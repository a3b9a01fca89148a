"""Partner request bodies (PowerBox, WattShift, Bright) for tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from gridhook.contract.identifiers import hem_profile_id

CLIENT = "client-1"
"""The PowerBox customer of the state tests."""
METER = "mtr-100200"
"""Its meter."""


def customer_body(
    client_id: str,
    meters: Sequence[str],
    *,
    status: str = "A",
    site_id: str | None = None,
    site_per_meter: bool = False,
    is_ami: bool = True,
    rate: str = "R1",
    first_name: str | None = None,
) -> dict[str, Any]:
    """A PowerBox customer sync of `client_id` listing `meters`: on one site (`site_id`,
    `site-<clientId>` by default), or on a site each (`site-<meterId>`); none when `meters` is
    empty. The first meter of a site is its primary one."""

    def site(external_id: str, listed: Sequence[str]) -> dict[str, Any]:
        return {
            "externalSiteId": external_id,
            "isPrimary": True,
            **({"firstName": first_name} if first_name else {}),
            "address1": "1 Main St",
            "city": "Detroit",
            "state": "MI",
            "postalCode": "48067",
            "meters": [
                {
                    "meterId": meter,
                    "meterType": "Electric",
                    "isPrimary": n == 0,
                    "isAMI": is_ami,
                    "rateCode": rate,
                    "billingCycleId": 1,
                }
                for n, meter in enumerate(listed)
            ],
        }

    if site_per_meter:
        sites = [site(f"site-{meter}", [meter]) for meter in meters]
    else:
        sites = [site(site_id or f"site-{client_id}", meters)] if meters else []
    return {"clientId": client_id, "AcctStatus": status, "customerSites": sites}


def customer_payload(status: str = "A", rate: str = "R1") -> dict[str, Any]:
    """The seed's sample sync (seed 004), names, CIS extras and an obsolete field included."""
    body = customer_body(
        "client-9", ["123456789"], status=status, site_id="5113305555", rate=rate,
        first_name="John",
    )  # fmt: skip
    site = body["customerSites"][0]
    site["lastName"] = "Doe"
    site["address1"] = "123 Main St."
    site["meters"][0].update(
        {"accountNumber": "85000000", "unitOfMeasure": "kWh", "isAMR": True},
        PANID="obsolete-but-allowed",
    )
    return body


def bind_payload(action: int = 1, **overrides: Any) -> dict[str, Any]:
    body = {
        "hemProfileId": hem_profile_id(CLIENT),
        "macAddress": "00:1B:C5:00:00:AA:BB:CC",
        "installCode": "83FED3407A939723A5C639B26916D505C3B5",
        "meterId": METER,
        "actionCode": action,
    }
    body.update(overrides)
    return body


def price_signal(home: str = "ws_home_1") -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "price_signal.updated",
        "createdAt": "2026-11-22T10:00:00Z",
        "data": {
            "homeId": home,
            "startTime": "2026-11-22T00:00:00Z",
            "endTime": "2026-11-23T00:00:00Z",
            "data": [
                {
                    "startTime": "2026-11-22T00:00:00Z",
                    "endTime": "2026-11-22T06:00:00Z",
                    "price": 0.11,
                    "import": 0.11,
                    "export": 0.04,
                    "confidence": 0.9,
                },
            ],
        },
    }


def bright_event(kind: str = "accountCreated") -> dict[str, Any]:
    return {
        "type": kind,
        "accountId": "br-acct-1",
        "userId": "u-1",
        "email": "karin.svensson@example.se",
        "username": "karin",
        "personalNumber": "19811218-9876",
        "occurredAt": "2026-11-22T10:00:00Z",
    }
