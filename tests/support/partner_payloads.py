"""Partner request bodies (PowerBox, WattShift, Bright) for tests and benchmarks."""

from __future__ import annotations

import uuid
from typing import Any

from gridhook.contract.identifiers import hem_profile_id
from tests.support.state_events import CLIENT, METER


def customer_payload(status: str = "A", rate: str = "R1") -> dict[str, Any]:
    return {
        "clientId": "client-9",
        "AcctStatus": status,
        "customerSites": [
            {
                "externalSiteId": "5113305555",
                "isPrimary": True,
                "firstName": "John",
                "lastName": "Doe",
                "address1": "123 Main St.",
                "city": "Detroit",
                "state": "MI",
                "postalCode": "48067",
                "meters": [
                    {
                        "accountNumber": "85000000",
                        "meterId": "123456789",
                        "meterType": "Electric",
                        "unitOfMeasure": "kWh",
                        "isPrimary": True,
                        "isAMI": True,
                        "isAMR": True,
                        "rateCode": rate,
                        "billingCycleId": 1,
                        "PANID": "obsolete-but-allowed",
                    }
                ],
            }
        ],
    }


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
