"""Bearer tokens for the PowerBox tests, signed by the tests' own RSA and EC keys."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.utility.example"
AUDIENCE = "gridhook-powerbox-test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        exporter = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        jwk = exporter.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return bytes(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "cis", "iat": now, "exp": now + 600}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid}
        )


def rsa_key(kid: str = "rsa-1") -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str = "ec-1") -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def write_jwks(path: Path, *keys: SigningKey) -> None:
    path.write_bytes(orjson.dumps({"keys": [key.public_jwk() for key in keys]}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned_token(kid: str) -> str:
    """An `alg: none` token: header and claims, no signature."""
    now = int(time.time())
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT", "kid": kid}))
    claims = _b64(orjson.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}))
    return f"{header}.{claims}."


def hs256_with_public_key(key: SigningKey) -> str:
    """The key-confusion attack: HS256 with the public key's PEM as the HMAC secret."""
    import hashlib
    import hmac

    now = int(time.time())
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}))
    claims = _b64(orjson.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}))
    signing_input = f"{header}.{claims}".encode()
    signature = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"
