"""Realistic Light webhook payloads for tests and benchmarks."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gridhook.contract.codec import CloudEvent
from gridhook.contract.event_types import LIGHT_TYPES_WITH_LOCATION
from gridhook.contract.signatures import sign

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk="
OTHER_SECRET = "whsec_" + "YW5vdGhlci1zZWNyZXQtZm9yLXJvdGF0aW9uLXRlc3Q="


def account(account_uuid: str, rng: random.Random) -> dict[str, Any]:
    first = rng.choice(["Ana", "Bo", "Chidi", "Dana", "Eli", "Farah"])
    return {
        "uuid": account_uuid,
        "account_number": str(rng.randrange(10**9, 10**10)),
        "created_at": "2026-10-01T12:00:00Z",
        "first_name": first,
        "last_name": rng.choice(["Nguyen", "Smith", "Okafor", "Garcia"]),
        "email": f"{first.lower()}{rng.randrange(1000)}@example.com",
        "phone_number": f"+1512555{rng.randrange(1000, 9999)}",
        "enrollment": {
            "has_accepted_plan": True,
            "has_payment_method": rng.random() < 0.5,
            "is_billing_address_confirmed": rng.random() < 0.5,
            "is_identity_verified": rng.random() < 0.5,
            "is_enrollment_finalized": False,
            "is_service_active": False,
        },
        "app": {"uuid": "app_8d1c", "name": "Installer app"},
    }


def location(location_uuid: str, rng: random.Random) -> dict[str, Any]:
    return {
        "uuid": location_uuid,
        "esi_id": "".join(rng.choice("0123456789") for _ in range(17)),
        "address_1": f"{rng.randrange(1, 9999)} Congress Ave",
        "address_2": None,
        "city": "Austin",
        "state": "TX",
        "postal_code": "78701",
        "utility_number": "1039940674000",
        "service_start_date": "2026-12-01",
        "final_service_date": None,
        "is_service_active": rng.random() < 0.5,
        "has_usage_history": rng.random() < 0.5,
        "plan_name": "Light Saver 12",
        "plan_uuid": "plan_3f9a",
    }


def light_event(
    event_type: str,
    account_uuid: str | None = None,
    *,
    rng: random.Random | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """One Light webhook body of `event_type` (0.5-2 KB)."""
    rng = rng or random.Random()
    account_uuid = account_uuid or str(uuid.uuid4())
    data: dict[str, Any] = {"account": account(account_uuid, rng)}
    payment = event_type in ("account.payment_failed", "account.payment_successful")
    if event_type in LIGHT_TYPES_WITH_LOCATION or payment:
        data["location"] = location(f"loc_{account_uuid}", rng)
    if payment:
        data["payment"] = {"amount_cents": rng.randrange(1000, 40000), "currency": "USD"}
    moment = created_at or datetime.now(UTC) - timedelta(seconds=rng.randrange(0, 60))
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created_at": moment.isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def light_record(account: str, event_type: str = "enrollment.finalized") -> CloudEvent:
    """A Light event for `account` as the ingress would publish it."""
    return CloudEvent(
        id=f"msg_{uuid.uuid4().hex}",
        source="light",
        type=event_type,
        time=datetime.now(UTC),
        key=account.encode(),
        data=orjson.dumps(light_event(event_type, account)),
    )


def signed(
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    message_id: str | None = None,
    timestamp: int | None = None,
    now: float,
) -> tuple[bytes, dict[str, str]]:
    """The body bytes and Standard Webhooks headers (plus content type) signing it."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = sign(
        "standard-webhooks",
        secret,
        raw,
        message_id or f"msg_{uuid.uuid4().hex}",
        int(now) if timestamp is None else timestamp,
    )
    return raw, {**headers, "Content-Type": "application/json"}


def public_text(key: Ed25519PrivateKey) -> str:
    """`key`'s public half as Standard Webhooks writes it (`whpk_` and base64)."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def sign_v1a(
    key: Ed25519PrivateKey, body: bytes, message_id: str, timestamp: int
) -> dict[str, str]:
    """Standard Webhooks headers signing `body` with `key` (`v1a`, ed25519)."""
    signature = key.sign(f"{message_id}.{timestamp}.".encode() + body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1a," + base64.b64encode(signature).decode(),
        "Content-Type": "application/json",
    }
