"""A development identity provider: one ES256 key, its JWKS, and tokens signed by it.

`make run` points GRIDHOOK_POWERBOX_JWKS at the JWKS file and `gridhook dev-token` mints a
token, so a person can call the PowerBox routes with curl. Never used in production.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

KEY_FILE = "dev-jwt-key.pem"
JWKS_FILE = "dev-jwks.json"


@dataclass(frozen=True)
class DevKey:
    private_key: ec.EllipticCurvePrivateKey
    kid: str
    jwks_path: Path


def ensure_dev_key(home: Path) -> DevKey:
    """The dev signing key under `home`, created (with its JWKS file) on first use."""
    key_path = home / KEY_FILE
    jwks_path = home / JWKS_FILE
    if key_path.exists():
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        private_key = loaded
    else:
        home.mkdir(parents=True, exist_ok=True)
        private_key = ec.generate_private_key(ec.SECP256R1())
        key_path.write_bytes(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
    public_jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = "dev-" + orjson.dumps(public_jwk, option=orjson.OPT_SORT_KEYS).hex()[-16:]
    jwks = {"keys": [{**public_jwk, "kid": kid, "use": "sig", "alg": "ES256"}]}
    jwks_path.write_bytes(orjson.dumps(jwks, option=orjson.OPT_INDENT_2))
    return DevKey(private_key, kid, jwks_path)


def mint(key: DevKey, issuer: str, audience: str, ttl: int, subject: str) -> str:
    """A bearer token signed by the dev key."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})
