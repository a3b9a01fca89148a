"""Webhook signature schemes: pure functions over headers, the raw body, secrets and the time.

Each `verify_*` function checks the signature over the raw body, in constant time, against every
configured secret (so a secret can be rotated without downtime) and returns what the signature
vouches for; otherwise it raises `Unauthenticated` with a reason that never contains a secret or
a signature. The matching `sign_*` functions produce headers for the developer helper and tests.

- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (several,
  space-separated) of HMAC-SHA256 over `{id}.{timestamp}.{body}`, secret `whsec_<base64>`.
- Stripe style: `<header>: t=<unix>,v1=<hex>[,v1=<hex>]` of HMAC-SHA256 over `{t}.{body}`.
- GitHub style: `<header>: sha256=<hex>` of HMAC-SHA256 over the body (no timestamp: no replay
  protection beyond deduplication).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gridhook.contract.errors import Unauthenticated
from gridhook.contract.settings import SignatureScheme

if TYPE_CHECKING:  # cryptography is imported only where a v1a key is configured (9 MB)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
PUBLIC_KEY_PREFIX = "whpk_"
STRIPE_SIGNATURE = "light-signature"
GITHUB_SIGNATURE = "x-hub-signature-256"

_WHSEC_PREFIX = "whsec_"


@dataclass(frozen=True)
class Verified:
    """What a valid signature vouches for: the message id (when the scheme carries one)."""

    message_id: str | None
    timestamp: int | None


def secret_key(secret: str) -> bytes:
    """The HMAC key of a configured secret: `whsec_<base64>` decodes, anything else is raw text."""
    if secret.startswith(_WHSEC_PREFIX):
        try:
            return base64.b64decode(secret[len(_WHSEC_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def _hmac(key: bytes, *parts: bytes) -> bytes:
    # One-shot HMAC in C: several times cheaper than hmac.new + update for a webhook body.
    return hmac.digest(key, b"".join(parts) if len(parts) > 1 else parts[0], "sha256")


def _check_timestamp(raw: str | None, now: float, tolerance: int) -> int:
    if not raw:
        raise Unauthenticated("missing signature timestamp")
    try:
        timestamp = int(raw)
    except ValueError:
        raise Unauthenticated("malformed signature timestamp") from None
    if timestamp < now - tolerance:
        raise Unauthenticated("signature timestamp is too old")
    if timestamp > now + tolerance:
        raise Unauthenticated("signature timestamp is in the future")
    return timestamp


def _any_matches(expected: Sequence[bytes], offered: Sequence[bytes]) -> bool:
    matched = False
    for mine in expected:
        for theirs in offered:
            # Keep comparing after a match so timing does not reveal which secret matched.
            matched |= hmac.compare_digest(mine, theirs)
    return matched


def public_key(text: str) -> Ed25519PublicKey:
    """A Standard Webhooks public key: `whpk_` and the base64 of its 32 raw bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(text.removeprefix(PUBLIC_KEY_PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ValueError("not a whpk_ ed25519 public key") from None


def verify_standard(
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[bytes],
    now: float,
    tolerance: int,
    public_keys: Sequence[Ed25519PublicKey] = (),
) -> Verified:
    """Verify a Standard Webhooks signature: `v1` (HMAC-SHA256 under one of `keys`) or, for a
    source configured with `public_keys`, `v1a` (ed25519)."""
    message_id = headers.get(STANDARD_ID, "")
    signatures = headers.get(STANDARD_SIGNATURE, "")
    if not message_id or not signatures:
        raise Unauthenticated("missing webhook-id or webhook-signature header")
    if len(message_id) > 200:
        raise Unauthenticated("webhook-id is too long")
    timestamp = _check_timestamp(headers.get(STANDARD_TIMESTAMP), now, tolerance)
    offered: dict[str, list[bytes]] = {"v1": [], "v1a": []}
    for item in signatures.split():
        version, _, encoded = item.partition(",")
        if version not in offered:
            continue
        try:
            offered[version].append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    if not offered["v1"] and not (offered["v1a"] and public_keys):
        raise Unauthenticated("no v1 (or v1a) signature in webhook-signature")
    signed_prefix = f"{message_id}.{timestamp}.".encode()
    expected = [_hmac(key, signed_prefix, body) for key in keys]
    if offered["v1"] and _any_matches(expected, offered["v1"]):
        return Verified(message_id=message_id, timestamp=timestamp)
    if offered["v1a"] and public_keys:
        from cryptography.exceptions import InvalidSignature

        signed = signed_prefix + body
        for signature in offered["v1a"]:
            for key in public_keys:
                try:
                    key.verify(signature, signed)
                except InvalidSignature:
                    continue
                return Verified(message_id=message_id, timestamp=timestamp)
    raise Unauthenticated("signature does not match")


def verify_stripe(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance: int
) -> Verified:
    """Verify a Stripe-style `t=…,v1=<hex>` signature."""
    raw = headers.get(STRIPE_SIGNATURE, "")
    if not raw:
        raise Unauthenticated(f"missing {STRIPE_SIGNATURE} header")
    fields = [item.partition("=") for item in raw.split(",")]
    stamp = next((value.strip() for name, _, value in fields if name.strip() == "t"), None)
    timestamp = _check_timestamp(stamp, now, tolerance)
    offered = []
    for name, _, value in fields:
        if name.strip() == "v1":
            try:
                offered.append(bytes.fromhex(value.strip()))
            except ValueError:
                continue
    if not offered:
        raise Unauthenticated(f"no v1 signature in {STRIPE_SIGNATURE}")
    expected = [_hmac(key, f"{timestamp}.".encode(), body) for key in keys]
    if not _any_matches(expected, offered):
        raise Unauthenticated("signature does not match")
    return Verified(message_id=None, timestamp=timestamp)


def verify_github(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance: int
) -> Verified:
    """Verify a GitHub-style `sha256=<hex>` signature of the body."""
    raw = headers.get(GITHUB_SIGNATURE, "")
    algorithm, _, digest = raw.partition("=")
    if algorithm != "sha256" or not digest:
        raise Unauthenticated(f"missing or malformed {GITHUB_SIGNATURE} header")
    try:
        offered = [bytes.fromhex(digest)]
    except ValueError:
        raise Unauthenticated(f"malformed {GITHUB_SIGNATURE} header") from None
    expected = [_hmac(key, body) for key in keys]
    if not _any_matches(expected, offered):
        raise Unauthenticated("signature does not match")
    return Verified(message_id=None, timestamp=None)


VERIFIERS = {
    "standard-webhooks": verify_standard,
    "stripe": verify_stripe,
    "github": verify_github,
}

SIGNATURE_HEADERS: dict[SignatureScheme, tuple[str, ...]] = {
    "standard-webhooks": (STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_SIGNATURE),
    "stripe": (STRIPE_SIGNATURE,),
    "github": (GITHUB_SIGNATURE,),
}


def sign(
    scheme: SignatureScheme, secret: str, body: bytes, message_id: str, timestamp: int
) -> dict[str, str]:
    """The headers that sign `body` with `secret` under `scheme`."""
    key = secret_key(secret)
    if scheme == "standard-webhooks":
        digest = _hmac(key, f"{message_id}.{timestamp}.".encode(), body)
        return {
            STANDARD_ID: message_id,
            STANDARD_TIMESTAMP: str(timestamp),
            STANDARD_SIGNATURE: "v1," + base64.b64encode(digest).decode(),
        }
    if scheme == "stripe":
        digest = _hmac(key, f"{timestamp}.".encode(), body)
        return {STRIPE_SIGNATURE: f"t={timestamp},v1={digest.hex()}"}
    return {GITHUB_SIGNATURE: "sha256=" + _hmac(key, body).hex()}
