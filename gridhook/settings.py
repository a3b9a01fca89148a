"""Every setting gridhook reads, parsed from the environment in one place.

`Settings.from_env()` is the only code that looks at `os.environ`. It validates every variable up
front and raises `ConfigError` naming the first bad one, so a typo fails at start-up, not at the
first webhook. `VARIABLES` lists every variable with its default and meaning; the README table and
the compose-file test are checked against it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, get_args

from gridhook.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"

SignatureScheme = Literal["standard-webhooks", "stripe", "github"]
LogFormat = Literal["auto", "json", "console"]
Compression = Literal["none", "gzip", "lz4", "snappy", "zstd"]
_Option = TypeVar("_Option", bound=str)


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, its default as text ('' means unset) and its meaning."""

    name: str
    default: str
    help: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "KAFKA_BOOTSTRAP_SERVERS",
        "",
        "Comma-separated Kafka brokers. Unset: `make run` and the tests start the embedded broker.",
    ),
    Variable("GRIDHOOK_HOME", ".gridhook", "Directory for local state: Kafka jars and data, logs."),
    Variable(
        "GRIDHOOK_LOG_FORMAT", "auto", "`json`, `console`, or `auto` (console on a terminal)."
    ),
    Variable("GRIDHOOK_LOG_LEVEL", "INFO", "Python log level name."),
    Variable("GRIDHOOK_HTTP_HOST", "127.0.0.1", "Address the ingress listens on."),
    Variable("GRIDHOOK_HTTP_PORT", "8080", "Port the ingress listens on."),
    Variable("GRIDHOOK_MAX_BODY_BYTES", "1048576", "Largest request body accepted; larger is 413."),
    Variable(
        "GRIDHOOK_PUBLISH_TIMEOUT",
        "5",
        "Seconds to wait for Kafka's acknowledgement before answering 503.",
    ),
    Variable(
        "GRIDHOOK_DEDUP_WINDOW",
        "86400",
        "Seconds a webhook id is remembered to drop Light's retries.",
    ),
    Variable("GRIDHOOK_DEDUP_MAX_IDS", "100000", "Most webhook ids remembered at once."),
    Variable("GRIDHOOK_KAFKA_CLIENT_ID", "gridhook", "Client id sent to Kafka."),
    Variable(
        "GRIDHOOK_KAFKA_COMPRESSION",
        "lz4",
        "Producer compression: none, gzip, lz4, snappy or zstd.",
    ),
    Variable(
        "GRIDHOOK_KAFKA_LINGER_MS", "5", "Producer linger: how long a batch may wait to fill."
    ),
    Variable(
        "GRIDHOOK_TOPIC_REPLICATION_FACTOR",
        "1",
        "Replication factor `gridhook topics ensure` creates topics with (3 in production).",
    ),
    Variable(
        "GRIDHOOK_DATABASE_URL",
        "",
        "State store URL: `sqlite:///path` or `postgresql://user:pass@host/db`. "
        "Unset: SQLite at `$GRIDHOOK_HOME/state.db`.",
    ),
    Variable(
        "GRIDHOOK_ADMIN_TOKEN",
        "",
        "Bearer token for the read API (`/v1/...` GETs). Unset: the read API answers 401.",
    ),
    Variable(
        "GRIDHOOK_CONSUMER_BATCH",
        "500",
        "Most records a consumer takes from Kafka per batch.",
    ),
    Variable(
        "GRIDHOOK_LIGHT_SECRETS",
        "",
        "Comma-separated Light signing secrets (`whsec_…`); any one matching signature passes.",
    ),
    Variable(
        "GRIDHOOK_LIGHT_SIGNATURE_SCHEME",
        "standard-webhooks",
        "How Light signs: standard-webhooks, stripe or github.",
    ),
    Variable(
        "GRIDHOOK_LIGHT_TOLERANCE",
        "300",
        "Seconds a signed timestamp may be in the past or the future.",
    ),
)

VARIABLES += (
    Variable(
        "GRIDHOOK_POWERBOX_JWKS",
        "",
        "JWKS of the utility's identity provider: an https URL or a file path. Unset: every "
        "PowerBox request is 401 (`make run` sets a dev JWKS).",
    ),
    Variable(
        "GRIDHOOK_POWERBOX_ISSUER",
        "gridhook-dev-idp",
        "Required `iss` of PowerBox bearer tokens.",
    ),
    Variable(
        "GRIDHOOK_POWERBOX_AUDIENCE",
        "gridhook-powerbox",
        "Required `aud` of PowerBox bearer tokens.",
    ),
    Variable(
        "GRIDHOOK_WATTSHIFT_API_KEYS",
        "",
        "Comma-separated API keys accepted in `x-ws-api-key` on /webhooks/wattshift.",
    ),
    Variable(
        "GRIDHOOK_BRIGHT_API_KEYS",
        "",
        "Comma-separated API keys accepted in `x-api-key` on /webhooks/bright.",
    ),
)

_DEFAULTS = {variable.name: variable.default for variable in VARIABLES}


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach Kafka and how to produce to it."""

    bootstrap_servers: str | None
    client_id: str
    compression: Compression
    linger_ms: int
    replication_factor: int


@dataclass(frozen=True)
class HttpSettings:
    """The ingress listener and its request limits."""

    host: str
    port: int
    max_body_bytes: int
    publish_timeout: float
    dedup_window: float
    dedup_max_ids: int


@dataclass(frozen=True)
class StoreSettings:
    """Where the state store lives and who may read it."""

    database_url: str
    admin_token: str | None
    consumer_batch: int


@dataclass(frozen=True)
class LightSettings:
    """How Light's webhooks are authenticated."""

    secrets: tuple[str, ...]
    scheme: SignatureScheme
    tolerance: int


@dataclass(frozen=True)
class PartnerSettings:
    """Credentials of the PowerBox, WattShift and Bright routes."""

    powerbox_jwks: str | None
    powerbox_issuer: str
    powerbox_audience: str
    wattshift_api_keys: tuple[str, ...]
    bright_api_keys: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    """All of gridhook's settings."""

    home: Path
    log_format: LogFormat
    log_level: str
    kafka: KafkaSettings
    http: HttpSettings
    store: StoreSettings
    light: LightSettings
    partners: PartnerSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise `ConfigError` naming the first bad variable."""
        env = _Reader(os.environ if environ is None else environ)
        home = Path(env.text("GRIDHOOK_HOME"))
        home = home if home.is_absolute() else PROJECT_ROOT / home
        admin_token = env.text("GRIDHOOK_ADMIN_TOKEN") or None
        if admin_token is not None and len(admin_token) < 16:
            raise ConfigError("GRIDHOOK_ADMIN_TOKEN: must be at least 16 characters")
        return cls(
            home=home,
            log_format=env.choice("GRIDHOOK_LOG_FORMAT", get_args(LogFormat)),
            log_level=env.choice(
                "GRIDHOOK_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True
            ),
            kafka=KafkaSettings(
                bootstrap_servers=env.text("KAFKA_BOOTSTRAP_SERVERS") or None,
                client_id=env.text("GRIDHOOK_KAFKA_CLIENT_ID"),
                compression=env.choice("GRIDHOOK_KAFKA_COMPRESSION", get_args(Compression)),
                linger_ms=env.integer("GRIDHOOK_KAFKA_LINGER_MS", minimum=0, maximum=60_000),
                replication_factor=env.integer(
                    "GRIDHOOK_TOPIC_REPLICATION_FACTOR", minimum=1, maximum=32
                ),
            ),
            http=HttpSettings(
                host=env.text("GRIDHOOK_HTTP_HOST"),
                port=env.integer("GRIDHOOK_HTTP_PORT", minimum=0, maximum=65_535),
                max_body_bytes=env.integer("GRIDHOOK_MAX_BODY_BYTES", minimum=1),
                publish_timeout=env.seconds("GRIDHOOK_PUBLISH_TIMEOUT"),
                dedup_window=env.seconds("GRIDHOOK_DEDUP_WINDOW"),
                dedup_max_ids=env.integer("GRIDHOOK_DEDUP_MAX_IDS", minimum=1),
            ),
            store=StoreSettings(
                database_url=env.text("GRIDHOOK_DATABASE_URL") or f"sqlite:///{home / 'state.db'}",
                admin_token=admin_token,
                consumer_batch=env.integer("GRIDHOOK_CONSUMER_BATCH", minimum=1, maximum=10_000),
            ),
            light=LightSettings(
                secrets=env.secret_list("GRIDHOOK_LIGHT_SECRETS"),
                scheme=env.choice("GRIDHOOK_LIGHT_SIGNATURE_SCHEME", get_args(SignatureScheme)),
                tolerance=env.integer("GRIDHOOK_LIGHT_TOLERANCE", minimum=1),
            ),
            partners=PartnerSettings(
                powerbox_jwks=env.text("GRIDHOOK_POWERBOX_JWKS") or None,
                powerbox_issuer=env.text("GRIDHOOK_POWERBOX_ISSUER"),
                powerbox_audience=env.text("GRIDHOOK_POWERBOX_AUDIENCE"),
                wattshift_api_keys=env.secret_list("GRIDHOOK_WATTSHIFT_API_KEYS"),
                bright_api_keys=env.secret_list("GRIDHOOK_BRIGHT_API_KEYS"),
            ),
        )


class _Reader:
    """Typed access to environment variables, falling back to the declared defaults."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str:
        return self._environ.get(name, _DEFAULTS[name]).strip()

    def integer(self, name: str, *, minimum: int, maximum: int | None = None) -> int:
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            raise ConfigError(f"{name}: must be at least {minimum}{upper}, got {value}")
        return value

    def seconds(self, name: str) -> float:
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if not value > 0:
            raise ConfigError(f"{name}: must be more than 0 seconds, got {raw!r}")
        return value

    def choice(self, name: str, allowed: tuple[_Option, ...], *, upper: bool = False) -> _Option:
        raw = self.text(name)
        raw = raw.upper() if upper else raw.lower()
        for option in allowed:
            if option == raw:
                return option
        raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")

    def secret_list(self, name: str) -> tuple[str, ...]:
        """Comma-separated secrets. Errors name the position, never the value."""
        secrets = tuple(part.strip() for part in self.text(name).split(",") if part.strip())
        for position, secret in enumerate(secrets, start=1):
            if len(secret) < 8:
                raise ConfigError(f"{name}: secret #{position} is shorter than 8 characters")
        return secrets
