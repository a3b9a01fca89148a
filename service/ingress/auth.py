"""Authentication of partner requests: HMAC signatures, API keys and bearer JWTs.

Every authenticator checks credentials over the headers and the raw body before anything is
parsed, and raises `Unauthenticated` with a detail that never contains the key, token or
signature offered.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import orjson

from gridhook.contract.errors import Unauthenticated
from gridhook.contract.settings import LightSettings
from gridhook.contract.signatures import (
    SIGNATURE_HEADERS,
    VERIFIERS,
    Verified,
    secret_key,
    verify_standard,
)

if TYPE_CHECKING:  # PyJWT (and cryptography, 9 MB) are imported by the first bearer token
    import jwt


class Authenticator(Protocol):
    """Checks a request's credentials over its headers and raw body, before anything is parsed."""

    description: str
    security_scheme: dict[str, Any]

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        """What the credentials vouch for; `Unauthenticated` when they do not."""
        ...


class SignatureAuthenticator:
    """HMAC webhook signatures under one of the schemes in `gridhook/contract/signatures.py`
    (and, for Standard Webhooks, `v1a` ed25519 signatures under `public_keys`)."""

    def __init__(self, settings: LightSettings, public_keys: Sequence[Any] = ()) -> None:
        self._keys = [secret_key(secret) for secret in settings.secrets]
        self._public_keys = list(public_keys)
        self._verify = VERIFIERS[settings.scheme]
        self._tolerance = settings.tolerance
        self.description = f"HMAC-SHA256 webhook signature, {settings.scheme} scheme"
        header_names = SIGNATURE_HEADERS[settings.scheme]
        self.security_scheme: dict[str, Any] = {
            "type": "apiKey",
            "in": "header",
            "name": header_names[-1],
            "description": f"{self.description} (headers: {', '.join(header_names)})",
        }

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        if not self._keys and not self._public_keys:
            raise Unauthenticated("no signing secret is configured for this source")
        if self._public_keys:
            return verify_standard(
                headers, body, self._keys, now, self._tolerance, self._public_keys
            )
        return self._verify(headers, body, self._keys, now, self._tolerance)


log = logging.getLogger("gridhook.ingress")

JWT_LEEWAY_SECONDS = 30
JWKS_MIN_REFRESH_SECONDS = 5.0
_ALGORITHM_FOR_KEY_TYPE = {"RSA": "RS256", "EC": "ES256"}


class ApiKeyAuthenticator:
    """A static API key in one header; any configured key passes (rotation)."""

    def __init__(self, header: str, keys: tuple[str, ...]) -> None:
        self._header = header
        self._keys = [key.encode() for key in keys]
        self.description = f"API key in the `{header}` header"
        self.security_scheme: dict[str, Any] = {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": self.description,
        }

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        offered = headers.get(self._header, "").encode()
        if not offered:
            raise Unauthenticated(f"missing {self._header} header")
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(offered, key)
        if not matched:
            raise Unauthenticated(f"invalid {self._header}")
        return Verified(message_id=None, timestamp=None)


class AdminTokenAuthenticator:
    """`Authorization: Bearer <token>`, one of `tokens` (a tenant may list several, to rotate
    them); nothing passes when there is none."""

    def __init__(self, tokens: str | Sequence[str] | None) -> None:
        given = (tokens,) if isinstance(tokens, str) else tuple(tokens or ())
        self._tokens = [token.encode() for token in given]
        self.description = "Bearer token: GRIDHOOK_ADMIN_TOKEN"
        self.security_scheme: dict[str, Any] = {
            "type": "http",
            "scheme": "bearer",
            "description": self.description,
        }

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        scheme, _, offered = headers.get("Authorization", "").partition(" ")
        if not self._tokens:
            raise Unauthenticated("no GRIDHOOK_ADMIN_TOKEN is configured")
        candidate = offered.strip().encode()
        # every token compared, in constant time, whichever matches
        matches = [hmac.compare_digest(candidate, token) for token in self._tokens]
        if scheme.lower() != "bearer" or not any(matches):
            raise Unauthenticated("send Authorization: Bearer <GRIDHOOK_ADMIN_TOKEN>")
        return Verified(message_id=None, timestamp=None)


class JwksKeys:
    """Signing keys from a JWKS file or URL, cached; reloaded when an unknown `kid` appears,
    at most once every `JWKS_MIN_REFRESH_SECONDS`."""

    def __init__(self, location: str) -> None:
        self._location = location
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._loaded_at: float | None = None
        self._loading = asyncio.Lock()

    async def key_for(self, kid: str | None, now: float) -> jwt.PyJWK | None:
        key = self._lookup(kid)
        if key is not None:
            return key
        async with self._loading:
            key = self._lookup(kid)
            stale = self._loaded_at is None or now - self._loaded_at >= JWKS_MIN_REFRESH_SECONDS
            if key is None and stale:
                self._loaded_at = now
                await self._load()
                key = self._lookup(kid)
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _load(self) -> None:
        import jwt

        try:
            if self._location.startswith(("https://", "http://")):
                timeout = aiohttp.ClientTimeout(total=5)
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.get(self._location) as response,
                ):
                    response.raise_for_status()
                    raw = await response.read()
            else:
                raw = await asyncio.to_thread(Path(self._location).read_bytes)
            document = orjson.loads(raw)
            keys = {}
            for entry in document.get("keys", []):
                usable = entry.get("kty") in _ALGORITHM_FOR_KEY_TYPE
                if entry.get("use", "sig") != "sig" or not usable:
                    continue
                keys[entry.get("kid")] = jwt.PyJWK(entry)
        except (OSError, aiohttp.ClientError, orjson.JSONDecodeError, jwt.PyJWKError) as error:
            log.warning(
                "could not load the PowerBox JWKS",
                extra={"fields": {"error": type(error).__name__}},
            )
            return
        self._keys = keys
        log.info("PowerBox JWKS loaded", extra={"fields": {"keys": len(keys)}})


class JwtAuthenticator:
    """`Authorization: Bearer <JWT>` signed RS256 or ES256 by a key of the issuer's JWKS, with
    the configured `iss` and `aud`, and valid `exp`/`nbf` (30 s leeway)."""

    def __init__(self, jwks: JwksKeys | None, issuer: str, audience: str) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self.description = "OAuth 2.0 bearer JWT (RS256 or ES256) from the utility's IdP"
        self.security_scheme: dict[str, Any] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": self.description,
        }

    async def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> Verified:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing bearer token")
        if self._jwks is None:
            raise Unauthenticated("no JWKS is configured for this source")
        import jwt

        try:
            header = jwt.get_unverified_header(token.strip())
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        algorithm = str(header.get("alg"))
        if algorithm not in _ALGORITHM_FOR_KEY_TYPE.values():
            raise Unauthenticated("token algorithm not accepted")
        key = await self._jwks.key_for(header.get("kid"), now)
        if key is None:
            raise Unauthenticated("token signed by an unknown key")
        if algorithm != _ALGORITHM_FOR_KEY_TYPE.get(str(key.key_type)):
            raise Unauthenticated("token algorithm does not match its key")
        try:
            jwt.decode(
                token.strip(),
                key=key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=JWT_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        return Verified(message_id=None, timestamp=None)
