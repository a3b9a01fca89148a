"""Which tenant a request is for, before its body is read, and what its credentials open.

A `TenantAuthenticator` stands for one kind of credential (Light's signatures, PowerBox's
bearer JWT, WattShift's or Bright's API key, the admin token) across every tenant:
`tenant_of` names the tenant from the headers or the path alone (a JWT's unverified issuer, a
key, a path segment; the default tenant when nothing matches), so the tenant's rate limit is
checked before the body is read; `authenticate` then checks the credentials with that tenant's
keys only, so one tenant's credentials never open another's data.

`Limits` keeps one token bucket per tenant (`rate` per second, `burst` above it): past it, 429
with `Retry-After`, before the body is read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from gridhook.contract.errors import TooManyRequests
from gridhook.contract.settings import LightSettings, Settings
from gridhook.contract.signatures import Verified, public_key
from gridhook.contract.tenants import DEFAULT, Registry, Tenant, Tenants
from service.ingress.auth import (
    AdminTokenAuthenticator,
    ApiKeyAuthenticator,
    Authenticator,
    JwksKeys,
    JwtAuthenticator,
    SignatureAuthenticator,
)

Kind = Literal["light", "powerbox", "wattshift", "bright", "admin"]


class TenantAuthenticator:
    """One kind of credential, for every tenant of the registry."""

    def __init__(self, kind: Kind, registry: Registry, settings: Settings) -> None:
        self.kind = kind
        self._registry = registry
        self._settings = settings
        self._built: dict[tuple[str, int], Authenticator] = {}
        default = self._for(registry.current.by_id[DEFAULT])
        self.description: str = default.description
        self.security_scheme: dict[str, Any] = default.security_scheme

    def tenant_of(self, request: web.Request) -> str:
        """The tenant the request's credentials name (the default one when none does)."""
        tenants = self._registry.current
        found: Tenant | None = None
        if self.kind == "light":
            found = tenants.get(request.match_info.get("tenant", DEFAULT))
            if found is None:
                raise web.HTTPNotFound(text="no such tenant")
        elif self.kind == "powerbox":
            found = tenants.of_issuer(_issuer(request.headers))
        elif self.kind == "wattshift":
            found = tenants.of_wattshift_key(request.headers.get("x-ws-api-key", ""))
        elif self.kind == "bright":
            found = tenants.of_bright_key(request.headers.get("x-api-key", ""))
        else:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            found = tenants.of_admin_token(token.strip()) if scheme.lower() == "bearer" else None
        return found.tenant_id if found is not None else DEFAULT

    async def authenticate(
        self, headers: Mapping[str, str], body: bytes, now: float, tenant: str = DEFAULT
    ) -> Verified:
        """The credentials checked with `tenant`'s keys alone."""
        found = self._registry.current.get(tenant) or self._registry.current.by_id[DEFAULT]
        return await self._for(found).authenticate(headers, body, now)

    def _for(self, tenant: Tenant) -> Authenticator:
        key = (tenant.tenant_id, self._registry.version)
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = self._build(tenant)
        return built

    def _build(self, tenant: Tenant) -> Authenticator:
        light = self._settings.light
        if self.kind == "light":
            secrets = tenant.light.secrets if tenant.light else ()
            keys = tenant.light.public_keys if tenant.light else ()
            own = LightSettings(secrets, keys, light.scheme, light.tolerance)
            return SignatureAuthenticator(own, [public_key(text) for text in keys])
        if self.kind == "powerbox":
            box = tenant.powerbox
            if box is None:
                return JwtAuthenticator(None, "", "")
            return JwtAuthenticator(
                JwksKeys(box.jwks) if box.jwks else None, box.issuer, box.audience
            )
        if self.kind == "wattshift":
            keys = tenant.wattshift.api_keys if tenant.wattshift else ()
            return ApiKeyAuthenticator("x-ws-api-key", keys)
        if self.kind == "bright":
            return ApiKeyAuthenticator("x-api-key", tenant.bright_api_keys)
        return AdminTokenAuthenticator(tenant.admin_tokens)


def _issuer(headers: Mapping[str, str]) -> str:
    """A bearer JWT's `iss`, unverified (it only chooses whose keys verify it)."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return ""
    import jwt  # on first use: an ingress without PowerBox never loads PyJWT and cryptography

    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else ""


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 when a request may pass now (and takes its token); else seconds to wait."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class Limits:
    """A token bucket per tenant, from the registry's rates.

    The shedding front takes a Light tenant's token when it lets a request through
    (`let_through`), so that requests read in one turn of the loop cannot all pass on one
    token; the route's `admit` then spends that prepaid token instead of taking another.
    """

    registry: Registry
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, int], Bucket] = field(default_factory=dict)
    _prepaid: dict[str, int] = field(default_factory=dict)

    def admit(self, tenant_id: str) -> None:
        """`TooManyRequests` (with Retry-After) when the tenant is past its rate and burst."""
        prepaid = self._prepaid.get(tenant_id, 0)
        if prepaid:
            self._prepaid[tenant_id] = prepaid - 1
            return
        bucket = self._bucket(tenant_id)
        wait = bucket.take(self.clock()) if bucket is not None else 0.0
        if wait > 0:
            raise too_many_requests(wait)

    def let_through(self, tenant_id: str) -> float:
        """0 when a request of `tenant_id` may pass (its token taken, for its route's `admit`
        to spend); else seconds until it may."""
        bucket = self._bucket(tenant_id)
        if bucket is None:
            return 0.0
        wait = bucket.take(self.clock())
        if wait == 0:
            self._prepaid[tenant_id] = self._prepaid.get(tenant_id, 0) + 1
        return wait

    def _bucket(self, tenant_id: str) -> Bucket | None:
        tenant = self.registry.current.get(tenant_id)
        if tenant is None or tenant.rate is None:
            return None
        key = (tenant_id, self.registry.version)
        bucket = self._buckets.get(key)
        if bucket is None:
            burst = tenant.burst or tenant.rate
            bucket = self._buckets[key] = Bucket(tenant.rate, burst, burst, self.clock())
        return bucket


def too_many_requests(wait: float) -> TooManyRequests:
    """The refusal of a tenant that may send again in `wait` seconds."""
    retry = str(max(1, math.ceil(wait)))
    return TooManyRequests(
        "this tenant sent more than its rate allows", headers={"Retry-After": retry}
    )


# -- each source's identifiers, scoped by the tenant -----------------------------------------

Scope = Callable[[Any, str, Tenants], None]
"""Scopes a document's identifiers in place by its tenant (`ForeignIdentifier` when the
default tenant names another's)."""


def _scope_at(node: Any, path: tuple[str, ...], tenant: str, tenants: Tenants) -> None:
    """Scope the text at `path` in `node` (a `*` step goes into every item of a list)."""
    if not path or node is None:
        return
    step, rest = path[0], path[1:]
    if step == "*":
        for item in node if isinstance(node, list) else ():
            _scope_at(item, rest, tenant, tenants)
        return
    if not isinstance(node, dict) or step not in node:
        return
    if not rest:
        if isinstance(node[step], str):
            node[step] = tenants.scope(tenant, node[step])
        return
    _scope_at(node[step], rest, tenant, tenants)


def scoping(*paths: str) -> Scope:
    """A `Scope` of the identifiers at `paths` (dotted, `*` for every item of a list)."""
    split = [tuple(path.split(".")) for path in paths]

    def scope(document: Any, tenant: str, tenants: Tenants) -> None:
        for path in split:
            _scope_at(document, path, tenant, tenants)

    return scope


LIGHT = scoping("data.account.uuid", "data.location.uuid")
POWERBOX_CUSTOMER = scoping(
    "clientId", "customerSites.*.externalSiteId", "customerSites.*.meters.*.meterId"
)
POWERBOX_BIND = scoping("meterId")
READINGS = scoping("reads.*.meterId")
WATTSHIFT = scoping("data.homeId")
BRIGHT = scoping("accountId")
INSTALLATION = scoping("installationId", "lightAccountUuid", "clientId", "meterId")
