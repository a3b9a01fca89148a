"""Tenants: the utilities and partner apps one gridhook serves, each with its own credentials,
endpoints and limits, and the scoping of their identifiers. Pure: parsing and lookups.

A tenant is declared in the tenants file (`GRIDHOOK_TENANTS_FILE`, TOML):

    [tenants.gridco]
    admin_tokens = ["..."]                 # its installers' and machines' read API tokens
    rate = 200                             # requests per second, and the burst above it
    burst = 400
    [tenants.gridco.powerbox]              # its utility's identity provider and head-end
    issuer = "https://idp.gridco.example"
    audience = "gridhook"
    jwks = "/etc/gridhook/gridco-jwks.json"
    gateway_url = "https://headend.gridco.example"
    [tenants.gridco.light]                 # its Light app
    secrets = ["whsec_..."]                # and/or public_keys = ["whpk_..."] (v1a)
    app_token = "..."
    api_url = "https://api.light.dev"
    [tenants.gridco.wattshift]
    api_keys = ["..."]
    client_key = "..."
    api_url = "https://api.wattshift.example"
    [tenants.gridco.bright]
    api_keys = ["..."]

The `default` tenant is what the environment configures (every setting of a single-tenant
gridhook); its identifiers are stored and keyed as they are, so a store and topics written
before tenants keep working. Another tenant's identifiers are scoped: `<tenant>:<id>`, in
the Kafka keys, the records it publishes, the store and every lookup, so the same `meterId`
under two utilities is two meters. A credential decides the tenant: a PowerBox token's
issuer, an API key, an admin token, or, for Light's webhooks, the path
(`/webhooks/light/<tenant>`) whose tenant's secrets must then verify them.
"""

from __future__ import annotations

import contextvars
import hmac
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridhook.contract.errors import ConfigError, ForeignIdentifier
from gridhook.contract.settings import Settings
from gridhook.contract.variables import public_key_text

DEFAULT = "default"
SEPARATOR = ":"
_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class PowerBoxTenant:
    issuer: str
    audience: str
    jwks: str | None
    gateway_url: str


@dataclass(frozen=True)
class LightTenant:
    secrets: tuple[str, ...]
    public_keys: tuple[str, ...]
    app_token: str | None
    api_url: str


@dataclass(frozen=True)
class WattShiftTenant:
    api_keys: tuple[str, ...]
    client_key: str | None
    api_url: str


@dataclass(frozen=True)
class Tenant:
    """One tenant's credentials, endpoints and limits (None: that partner is not theirs)."""

    tenant_id: str
    admin_tokens: tuple[str, ...] = ()
    rate: float | None = None
    """Requests per second (None: unlimited)."""
    burst: float | None = None
    powerbox: PowerBoxTenant | None = None
    light: LightTenant | None = None
    wattshift: WattShiftTenant | None = None
    bright_api_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tenants:
    """Every tenant, by id, and the credential each one is known by."""

    by_id: dict[str, Tenant] = field(default_factory=dict)

    def get(self, tenant_id: str) -> Tenant | None:
        return self.by_id.get(tenant_id)

    def ids(self) -> list[str]:
        return sorted(self.by_id)

    def of_issuer(self, issuer: str) -> Tenant | None:
        return next(
            (t for t in self.by_id.values() if t.powerbox and t.powerbox.issuer == issuer), None
        )

    def of_admin_token(self, token: str) -> Tenant | None:
        return next((t for t in self.by_id.values() if _among(token, t.admin_tokens)), None)

    def of_wattshift_key(self, key: str) -> Tenant | None:
        return next(
            (t for t in self.by_id.values() if t.wattshift and _among(key, t.wattshift.api_keys)),
            None,
        )

    def of_bright_key(self, key: str) -> Tenant | None:
        return next((t for t in self.by_id.values() if _among(key, t.bright_api_keys)), None)

    def scope(self, tenant_id: str, identifier: str) -> str:
        """`identifier` of `tenant_id` as gridhook keys and stores it (`scoped`);
        `ForeignIdentifier` when the default tenant, whose identifiers are not prefixed, names
        one in another tenant's scope."""
        if tenant_id == DEFAULT:
            prefix, separator, _ = identifier.partition(SEPARATOR)
            if separator and prefix != DEFAULT and prefix in self.by_id:
                raise ForeignIdentifier(f"identifiers beginning {prefix}{SEPARATOR} are not yours")
        return scoped(tenant_id, identifier)


def _among(offered: str, credentials: Iterable[str]) -> bool:
    """`offered` is one of `credentials`, compared in constant time (and never empty)."""
    found = False
    for credential in credentials:
        found |= hmac.compare_digest(offered.encode(), credential.encode())
    return found and bool(offered)


def scoped(tenant_id: str, identifier: str) -> str:
    """`identifier` of `tenant_id` as gridhook keys and stores it (scoping twice changes
    nothing: an id gridhook gave out comes back as it was given)."""
    if tenant_id == DEFAULT or identifier.startswith(f"{tenant_id}{SEPARATOR}"):
        return identifier
    return f"{tenant_id}{SEPARATOR}{identifier}"


def unscoped(identifier: str, tenant_ids: Iterable[str]) -> tuple[str, str]:
    """The tenant a stored identifier belongs to, and the identifier as that tenant knows it."""
    prefix, separator, rest = identifier.partition(SEPARATOR)
    if separator and prefix != DEFAULT and prefix in set(tenant_ids):
        return prefix, rest
    return DEFAULT, identifier


def act_for(identifier: str, registry: Registry | None) -> str:
    """Make the running task act for the tenant `identifier` is scoped by (its partner calls
    then go to that tenant's endpoints, `CURRENT_TENANT`); that tenant."""
    ids = [DEFAULT] if registry is None else registry.current.ids()
    tenant = unscoped(identifier, ids)[0]
    CURRENT_TENANT.set(tenant)
    return tenant


def _texts(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ConfigError(f"{where}: expected a list of texts")
    return tuple(raw)


def _public_keys(raw: Any, where: str) -> tuple[str, ...]:
    keys = _texts(raw, where)
    for position, key in enumerate(keys, start=1):
        try:
            public_key_text(key)
        except ValueError as error:
            raise ConfigError(f"{where} #{position}: {error}") from None
    return keys


def _text(raw: Any, where: str, default: str | None = None) -> str:
    if raw is None and default is not None:
        return default
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{where}: expected a text")
    return raw


def _tenant(tenant_id: str, raw: dict[str, Any], defaults: Tenant) -> Tenant:
    where = f"tenants.{tenant_id}"
    if not _ID.match(tenant_id) or tenant_id == DEFAULT:
        raise ConfigError(f"{where}: a tenant id is lower-case letters, digits and -")
    known = {"admin_tokens", "rate", "burst", "powerbox", "light", "wattshift", "bright"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    rate, burst = raw.get("rate"), raw.get("burst")
    for name, value in (("rate", rate), ("burst", burst)):
        if value is not None and (not isinstance(value, int | float) or value <= 0):
            raise ConfigError(f"{where}.{name}: a positive number")
    powerbox = light = wattshift = None
    if isinstance(raw.get("powerbox"), dict):
        pb = raw["powerbox"]
        powerbox = PowerBoxTenant(
            issuer=_text(pb.get("issuer"), f"{where}.powerbox.issuer"),
            audience=_text(pb.get("audience"), f"{where}.powerbox.audience", "gridhook"),
            jwks=_text(pb.get("jwks"), f"{where}.powerbox.jwks"),
            gateway_url=_text(pb.get("gateway_url"), f"{where}.powerbox.gateway_url").rstrip("/"),
        )
    if isinstance(raw.get("light"), dict):
        li = raw["light"]
        light = LightTenant(
            secrets=_texts(li.get("secrets"), f"{where}.light.secrets"),
            public_keys=_public_keys(li.get("public_keys"), f"{where}.light.public_keys"),
            app_token=li.get("app_token"),
            api_url=_text(
                li.get("api_url"),
                f"{where}.light.api_url",
                defaults.light.api_url if defaults.light else None,
            ).rstrip("/"),
        )
        if not light.secrets and not light.public_keys:
            raise ConfigError(f"{where}.light: give secrets or public_keys")
    if isinstance(raw.get("wattshift"), dict):
        ws = raw["wattshift"]
        wattshift = WattShiftTenant(
            api_keys=_texts(ws.get("api_keys"), f"{where}.wattshift.api_keys"),
            client_key=ws.get("client_key"),
            api_url=_text(
                ws.get("api_url"),
                f"{where}.wattshift.api_url",
                defaults.wattshift.api_url if defaults.wattshift else None,
            ).rstrip("/"),
        )
    bright: dict[str, Any] = raw["bright"] if isinstance(raw.get("bright"), dict) else {}
    return Tenant(
        tenant_id=tenant_id,
        admin_tokens=_texts(raw.get("admin_tokens"), f"{where}.admin_tokens"),
        rate=None if rate is None else float(rate),
        burst=None if rate is None else float(burst if burst is not None else rate),
        powerbox=powerbox,
        light=light,
        wattshift=wattshift,
        bright_api_keys=_texts(bright.get("api_keys"), f"{where}.bright.api_keys"),
    )


def parse(text: str, default: Tenant) -> Tenants:
    """The tenants a tenants file declares, beside `default`; `ConfigError` naming what is
    wrong (and nothing secret) otherwise."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"tenants file: not TOML ({error})") from None
    declared = raw.get("tenants", {})
    if not isinstance(declared, dict):
        raise ConfigError("tenants file: expected [tenants.<id>] tables")
    tenants = {DEFAULT: default}
    for tenant_id, body in declared.items():
        if not isinstance(body, dict):
            raise ConfigError(f"tenants.{tenant_id}: expected a table")
        tenants[tenant_id] = _tenant(tenant_id, body, default)
    _unique(tenants.values())
    return Tenants(tenants)


def _unique(tenants: Iterable[Tenant]) -> None:
    """No credential opens two tenants."""
    seen: dict[str, str] = {}
    for tenant in tenants:
        credentials = [
            *tenant.admin_tokens,
            *tenant.bright_api_keys,
            *((tenant.powerbox.issuer,) if tenant.powerbox else ()),
            *(tenant.wattshift.api_keys if tenant.wattshift else ()),
        ]
        for credential in credentials:
            other = seen.setdefault(credential, tenant.tenant_id)
            if other != tenant.tenant_id:
                raise ConfigError(
                    f"tenants {other} and {tenant.tenant_id} share a credential or an issuer"
                )


def default_of(settings: Settings) -> Tenant:
    """The default tenant: what the environment configures."""
    partners, installations = settings.partners, settings.installations
    return Tenant(
        tenant_id=DEFAULT,
        admin_tokens=(settings.store.admin_token,) if settings.store.admin_token else (),
        rate=settings.tenancy.default_rate,
        burst=settings.tenancy.default_burst,
        powerbox=PowerBoxTenant(
            issuer=partners.powerbox_issuer,
            audience=partners.powerbox_audience,
            jwks=partners.powerbox_jwks,
            gateway_url=settings.bind.gateway_url,
        ),
        light=LightTenant(
            secrets=settings.light.secrets,
            public_keys=settings.light.public_keys,
            app_token=installations.light_app_token,
            api_url=installations.light_url,
        ),
        wattshift=WattShiftTenant(
            api_keys=partners.wattshift_api_keys,
            client_key=installations.wattshift_key,
            api_url=installations.wattshift_url,
        ),
        bright_api_keys=partners.bright_api_keys,
    )


def of_settings(settings: Settings) -> Tenants:
    """The default tenant and those of `GRIDHOOK_TENANTS_FILE` (read now)."""
    return load(settings.tenancy.tenants_file, default_of(settings))


def load(path: Path | None, default: Tenant) -> Tenants:
    """The tenants of the file at `path` (only `default` when there is none)."""
    if path is None:
        return Tenants({DEFAULT: default})
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"tenants file {path}: cannot be read ({error.strerror})") from None
    return parse(text, default)


class Registry:
    """The tenants now, re-read from their file on `reload()` (SIGHUP): a bad file is refused
    with the error logged, and the tenants before it stay."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.current = of_settings(settings)
        self.version = 1

    def reload(self) -> str | None:
        """Read the file again; the error when it is refused (None when taken)."""
        try:
            fresh = of_settings(self._settings)
        except ConfigError as error:
            return str(error)
        self.current = fresh
        self.version += 1
        return None


CURRENT_TENANT: contextvars.ContextVar[str] = contextvars.ContextVar(
    "gridhook_tenant", default=DEFAULT
)
"""The tenant a task works for (an installation's, a location's, a request's): the partner
clients choose the tenant's endpoints and credentials by it."""


def bare(identifier: str, tenant_id: str) -> str:
    """`identifier` without `tenant_id`'s scope (as the tenant's partners know it)."""
    prefix = f"{tenant_id}{SEPARATOR}"
    if tenant_id != DEFAULT and identifier.startswith(prefix):
        return identifier[len(prefix) :]
    return identifier
