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

from gridhook.contract.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
        "GRIDHOOK_INGRESS_WORKERS",
        "1",
        "Ingress processes sharing the port (SO_REUSEPORT); one per spare core is a good start.",
    ),
    Variable(
        "GRIDHOOK_PUBLISH_TIMEOUT",
        "5",
        "Seconds to wait for Kafka's acknowledgement before answering 503.",
    ),
    Variable(
        "GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT",
        "128",
        "Load shedding: webhooks handed to Kafka and not yet acknowledged, per ingress process, "
        "past which a new request is answered 503 with Retry-After: 1 at once, before its body "
        "is read (0: no limit).",
    ),
    Variable(
        "GRIDHOOK_DEDUP_WINDOW",
        "86400",
        "Seconds a webhook id is remembered to drop Light's retries.",
    ),
    Variable("GRIDHOOK_DEDUP_MAX_IDS", "100000", "Most webhook ids remembered at once."),
    Variable(
        "GRIDHOOK_READ_YOUR_WRITES_WAIT",
        "3",
        "Most seconds a bind waits for the state applier to apply the customer syncs accepted "
        "before it, rather than refuse it on stale state; past it, 503.",
    ),
    Variable("GRIDHOOK_KAFKA_CLIENT_ID", "gridhook", "Client id sent to Kafka."),
    Variable(
        "GRIDHOOK_KAFKA_COMPRESSION",
        "lz4",
        "Producer compression: none, gzip, lz4, snappy or zstd.",
    ),
    Variable(
        "GRIDHOOK_KAFKA_LINGER_MS",
        "0",
        "Producer linger: how long a batch may wait to fill. Under load batches fill anyway "
        "(one batch per partition is in flight at a time); 0 keeps a quiet ingress's p50 low.",
    ),
    Variable(
        "GRIDHOOK_TOPIC_REPLICATION_FACTOR",
        "",
        "Replication factor `gridhook topics ensure` creates topics with. Unset: min(3, brokers "
        "the cluster has), with `min.insync.replicas` one less from 3 up.",
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
        "GRIDHOOK_APPLIED_EVENTS_DAYS",
        "7",
        "Days the state applier remembers an applied event id; a redelivery after that is "
        "applied again, which changes nothing.",
    ),
    Variable(
        "GRIDHOOK_CONSUMER_METRICS_HOST",
        "127.0.0.1",
        "Address each consumer process serves GET /metrics on.",
    ),
    Variable(
        "GRIDHOOK_CONSUMER_METRICS_PORT",
        "0",
        "Port of a consumer process's /metrics (0: a free port, logged at start, so replicas "
        "on one host never clash; `make run` gives each process its own).",
    ),
    Variable("GRIDHOOK_CONSOLE_HOST", "127.0.0.1", "Address the operator console listens on."),
    Variable("GRIDHOOK_CONSOLE_PORT", "8070", "Port of the operator console."),
    Variable(
        "GRIDHOOK_CONSOLE_SESSION_HOURS",
        "8",
        "Hours an operator console session lasts after logging in.",
    ),
    Variable(
        "GRIDHOOK_CONSUMER_BATCH",
        "2000",
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

VARIABLES += (
    Variable(
        "GRIDHOOK_EMULATOR_HOST", "127.0.0.1", "Address the AMI/HAN gateway emulator listens on."
    ),
    Variable("GRIDHOOK_EMULATOR_PORT", "8090", "Port of the gateway emulator."),
    Variable(
        "GRIDHOOK_EMULATOR_DB",
        "",
        "SQLite file keeping the emulator's requests and joined devices. "
        "Unset: `$GRIDHOOK_HOME/emulator.db`.",
    ),
    Variable(
        "GRIDHOOK_EMULATOR_JOIN_SECONDS",
        "realistic",
        "How long a HAN join or leave takes: `realistic` (most within 15 min, a tail to 48 h) "
        "or uniformly `min-max` seconds; divided by GRIDHOOK_EMULATOR_TIME_SCALE.",
    ),
    Variable(
        "GRIDHOOK_EMULATOR_TIME_SCALE",
        "1",
        "How much faster than real time the emulated HAN runs (`make run` sets 600: 15 min "
        "in 1.5 s).",
    ),
    Variable(
        "GRIDHOOK_EMULATOR_UNREACHABLE_RATE",
        "0.1",
        "Share of join attempts failing because the meter's radio is unreachable (transient).",
    ),
    Variable(
        "GRIDHOOK_EMULATOR_ERROR_RATE",
        "0.05",
        "Share of head-end API calls answered 503.",
    ),
    Variable(
        "GRIDHOOK_EMULATOR_TIMEOUT_RATE",
        "0.02",
        "Share of head-end API calls that hang for GRIDHOOK_EMULATOR_HANG_SECONDS.",
    ),
    Variable("GRIDHOOK_EMULATOR_HANG_SECONDS", "10", "How long a hanging call hangs."),
    Variable("GRIDHOOK_EMULATOR_MAX_DEVICES", "3", "Most HAN devices one meter holds."),
    Variable(
        "GRIDHOOK_GATEWAY_URL",
        "http://127.0.0.1:8090",
        "Base URL of the AMI head-end (the emulator in development) the bind forwarder calls.",
    ),
    Variable(
        "GRIDHOOK_GATEWAY_TIMEOUT",
        "5",
        "Seconds one call to the head-end may take before it counts as a transient failure.",
    ),
    Variable(
        "GRIDHOOK_BIND_MAX_ATTEMPTS",
        "10",
        "Most times the forwarder submits one request whose join failed transiently (meter "
        "unreachable) before it fails it.",
    ),
    Variable(
        "GRIDHOOK_BIND_BACKOFF_MAX",
        "30",
        "Longest wait, in seconds, between two attempts at one request (exponential with jitter).",
    ),
    Variable(
        "GRIDHOOK_BIND_POLL_MAX",
        "300",
        "Longest wait, in seconds, between two status reads of a join in progress (the wait "
        "grows from 1 s).",
    ),
    Variable(
        "GRIDHOOK_BIND_DEADLINE",
        "172800",
        "Seconds a request may stay pending (48 h, as a HAN join may take) before it is "
        "published as failed (`deadline_passed`); a later join is still reconciled.",
    ),
)

VARIABLES += (
    Variable(
        "GRIDHOOK_LIGHT_API_URL",
        "http://127.0.0.1:8091",
        "Base URL of Light's API the orchestrator calls (the Light emulator in development).",
    ),
    Variable(
        "GRIDHOOK_LIGHT_APP_TOKEN",
        "",
        "Light app token (backend only) the orchestrator calls Light with; the emulator "
        "accepts it. Unset: the orchestrator cannot call Light (`make run` sets one).",
    ),
    Variable(
        "GRIDHOOK_WATTSHIFT_API_URL",
        "http://127.0.0.1:8092",
        "Base URL of WattShift's API the orchestrator onboards homes with (the emulator in "
        "development).",
    ),
    Variable(
        "GRIDHOOK_WATTSHIFT_CLIENT_KEY",
        "",
        "The `x-ws-api-key` the orchestrator calls WattShift with; the emulator accepts it.",
    ),
    Variable(
        "GRIDHOOK_PARTNER_TIMEOUT",
        "10",
        "Seconds one call to Light's or WattShift's API may take before it counts as transient.",
    ),
    Variable(
        "GRIDHOOK_PARTNER_BACKOFF_MAX",
        "60",
        "Longest wait, in seconds, between two attempts at a partner call (exponential, jitter).",
    ),
    Variable(
        "GRIDHOOK_INSTALLATION_CHECK_SECONDS",
        "30",
        "How often a waiting installation looks again at the meter, the Light account and the "
        "service.",
    ),
)

VARIABLES += tuple(
    variable
    for name, port, what in (
        ("LIGHT", "8091", "Light API emulator"),
        ("WATTSHIFT", "8092", "WattShift API emulator"),
    )
    for variable in (
        Variable(f"GRIDHOOK_{name}_EMULATOR_HOST", "127.0.0.1", f"Address the {what} listens on."),
        Variable(f"GRIDHOOK_{name}_EMULATOR_PORT", port, f"Port of the {what}."),
        Variable(
            f"GRIDHOOK_{name}_EMULATOR_DB",
            "",
            f"SQLite file keeping the {what}'s state. Unset: "
            f"`$GRIDHOOK_HOME/{name.lower()}-emulator.db`.",
        ),
        Variable(
            f"GRIDHOOK_{name}_EMULATOR_ERROR_RATE",
            "0",
            f"Share of {what} calls answered 503 (half of them after doing the work).",
        ),
        Variable(
            f"GRIDHOOK_{name}_EMULATOR_TIMEOUT_RATE",
            "0",
            f"Share of {what} calls that hang for GRIDHOOK_EMULATOR_HANG_SECONDS.",
        ),
        Variable(
            f"GRIDHOOK_{name}_EMULATOR_SLOW_SECONDS",
            "0",
            f"Seconds every {what} call is answered late (its work done at once).",
        ),
        Variable(
            f"GRIDHOOK_{name}_EMULATOR_WEBHOOK_URL",
            f"http://127.0.0.1:8080/webhooks/{name.lower()}",
            f"Where the {what} sends its webhooks (gridhook's ingress).",
        ),
    )
)

VARIABLES += (
    Variable(
        "GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS",
        "86400",
        "Real seconds a day takes in the Light emulator: plans expire after 5 business days and "
        "service starts on its date (`make run` sets 10).",
    ),
    Variable(
        "GRIDHOOK_LIGHT_EMULATOR_STALE_PLANS",
        "0",
        "How many plan requests of each account the Light emulator answers with plans that "
        "have already expired (fault injection).",
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
    replication_factor: int | None


@dataclass(frozen=True)
class HttpSettings:
    """The ingress listener and its request limits."""

    host: str
    port: int
    workers: int
    max_body_bytes: int
    publish_timeout: float
    max_publishes_in_flight: int
    dedup_window: float
    dedup_max_ids: int
    read_your_writes_wait: float


@dataclass(frozen=True)
class StoreSettings:
    """Where the state store lives and who may read it."""

    database_url: str
    admin_token: str | None
    consumer_batch: int
    applied_events_days: float


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
class EmulatorSettings:
    """The AMI/HAN gateway emulator: where it listens and how it misbehaves. `join_seconds` None
    is the realistic distribution of join latencies."""

    host: str
    port: int
    database: Path
    join_seconds: tuple[float, float] | None
    time_scale: float
    unreachable_rate: float
    error_rate: float
    timeout_rate: float
    hang_seconds: float
    max_devices: int


@dataclass(frozen=True)
class Faults:
    """How an emulator misbehaves: 503s, hangs, slowness."""

    error_rate: float
    timeout_rate: float
    hang_seconds: float
    slow_seconds: float


@dataclass(frozen=True)
class PartnerEmulatorSettings:
    """The Light or the WattShift API emulator."""

    host: str
    port: int
    database: Path
    faults: Faults
    webhook_url: str
    webhook_secret: str | None
    credential: str | None
    day_seconds: float
    stale_plans: int


@dataclass(frozen=True)
class InstallationSettings:
    """How the orchestrator reaches Light and WattShift, and how patiently it waits."""

    light_url: str
    light_app_token: str | None
    wattshift_url: str
    wattshift_key: str | None
    partner_timeout: float
    backoff_max: float
    check_seconds: float


@dataclass(frozen=True)
class BindSettings:
    """How the bind forwarder talks to the head-end."""

    gateway_url: str
    gateway_timeout: float
    max_attempts: int
    backoff_max: float
    poll_max: float
    deadline: float


@dataclass(frozen=True)
class ConsumerSettings:
    """Where each consumer process serves its metrics."""

    metrics_host: str
    metrics_port: int


@dataclass(frozen=True)
class ConsoleSettings:
    """The operator console's listener and sessions (it logs in with GRIDHOOK_ADMIN_TOKEN)."""

    host: str
    port: int
    session_seconds: float


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
    emulator: EmulatorSettings
    bind: BindSettings
    installations: InstallationSettings
    light_emulator: PartnerEmulatorSettings
    wattshift_emulator: PartnerEmulatorSettings
    consumer: ConsumerSettings
    console: ConsoleSettings

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
                replication_factor=env.optional_integer(
                    "GRIDHOOK_TOPIC_REPLICATION_FACTOR", minimum=1, maximum=32
                ),
            ),
            http=HttpSettings(
                host=env.text("GRIDHOOK_HTTP_HOST"),
                port=env.integer("GRIDHOOK_HTTP_PORT", minimum=0, maximum=65_535),
                workers=env.integer("GRIDHOOK_INGRESS_WORKERS", minimum=1, maximum=64),
                max_body_bytes=env.integer("GRIDHOOK_MAX_BODY_BYTES", minimum=1),
                publish_timeout=env.seconds("GRIDHOOK_PUBLISH_TIMEOUT"),
                max_publishes_in_flight=env.integer("GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT", minimum=0),
                dedup_window=env.seconds("GRIDHOOK_DEDUP_WINDOW"),
                dedup_max_ids=env.integer("GRIDHOOK_DEDUP_MAX_IDS", minimum=1),
                read_your_writes_wait=env.seconds("GRIDHOOK_READ_YOUR_WRITES_WAIT"),
            ),
            store=StoreSettings(
                database_url=env.text("GRIDHOOK_DATABASE_URL") or f"sqlite:///{home / 'state.db'}",
                admin_token=admin_token,
                consumer_batch=env.integer("GRIDHOOK_CONSUMER_BATCH", minimum=1, maximum=10_000),
                applied_events_days=env.seconds("GRIDHOOK_APPLIED_EVENTS_DAYS"),
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
            emulator=EmulatorSettings(
                host=env.text("GRIDHOOK_EMULATOR_HOST"),
                port=env.integer("GRIDHOOK_EMULATOR_PORT", minimum=0, maximum=65_535),
                database=Path(env.text("GRIDHOOK_EMULATOR_DB") or home / "emulator.db"),
                join_seconds=env.seconds_range("GRIDHOOK_EMULATOR_JOIN_SECONDS", "realistic"),
                time_scale=env.seconds("GRIDHOOK_EMULATOR_TIME_SCALE"),
                unreachable_rate=env.rate("GRIDHOOK_EMULATOR_UNREACHABLE_RATE"),
                error_rate=env.rate("GRIDHOOK_EMULATOR_ERROR_RATE"),
                timeout_rate=env.rate("GRIDHOOK_EMULATOR_TIMEOUT_RATE"),
                hang_seconds=env.seconds("GRIDHOOK_EMULATOR_HANG_SECONDS"),
                max_devices=env.integer("GRIDHOOK_EMULATOR_MAX_DEVICES", minimum=1),
            ),
            consumer=ConsumerSettings(
                metrics_host=env.text("GRIDHOOK_CONSUMER_METRICS_HOST"),
                metrics_port=env.integer(
                    "GRIDHOOK_CONSUMER_METRICS_PORT", minimum=0, maximum=65_535
                ),
            ),
            console=ConsoleSettings(
                host=env.text("GRIDHOOK_CONSOLE_HOST"),
                port=env.integer("GRIDHOOK_CONSOLE_PORT", minimum=0, maximum=65_535),
                session_seconds=3600 * env.seconds("GRIDHOOK_CONSOLE_SESSION_HOURS"),
            ),
            bind=BindSettings(
                gateway_url=env.text("GRIDHOOK_GATEWAY_URL").rstrip("/"),
                gateway_timeout=env.seconds("GRIDHOOK_GATEWAY_TIMEOUT"),
                max_attempts=env.integer("GRIDHOOK_BIND_MAX_ATTEMPTS", minimum=1),
                backoff_max=env.seconds("GRIDHOOK_BIND_BACKOFF_MAX"),
                poll_max=env.seconds("GRIDHOOK_BIND_POLL_MAX"),
                deadline=env.seconds("GRIDHOOK_BIND_DEADLINE"),
            ),
            installations=InstallationSettings(
                light_url=env.text("GRIDHOOK_LIGHT_API_URL").rstrip("/"),
                light_app_token=env.text("GRIDHOOK_LIGHT_APP_TOKEN") or None,
                wattshift_url=env.text("GRIDHOOK_WATTSHIFT_API_URL").rstrip("/"),
                wattshift_key=env.text("GRIDHOOK_WATTSHIFT_CLIENT_KEY") or None,
                partner_timeout=env.seconds("GRIDHOOK_PARTNER_TIMEOUT"),
                backoff_max=env.seconds("GRIDHOOK_PARTNER_BACKOFF_MAX"),
                check_seconds=env.seconds("GRIDHOOK_INSTALLATION_CHECK_SECONDS"),
            ),
            light_emulator=env.partner_emulator(
                "LIGHT",
                home,
                secret=(env.secret_list("GRIDHOOK_LIGHT_SECRETS") or (None,))[0],
                credential=env.text("GRIDHOOK_LIGHT_APP_TOKEN") or None,
            ),
            wattshift_emulator=env.partner_emulator(
                "WATTSHIFT",
                home,
                secret=(env.secret_list("GRIDHOOK_WATTSHIFT_API_KEYS") or (None,))[0],
                credential=env.text("GRIDHOOK_WATTSHIFT_CLIENT_KEY") or None,
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

    def optional_integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        """A whole number, or None when the variable is unset or empty."""
        return self.integer(name, minimum=minimum, maximum=maximum) if self.text(name) else None

    def seconds(self, name: str) -> float:
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if not value > 0:
            raise ConfigError(f"{name}: must be more than 0 seconds, got {raw!r}")
        return value

    def rate(self, name: str) -> float:
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a share between 0 and 1, got {raw!r}") from None
        if not 0 <= value <= 1:
            raise ConfigError(f"{name}: must be between 0 and 1, got {raw!r}")
        return value

    def seconds_range(self, name: str, keyword: str) -> tuple[float, float] | None:
        """`min-max` seconds, or None for the `keyword` that names a built-in distribution."""
        raw = self.text(name)
        if raw.lower() == keyword:
            return None
        low, _, high = raw.partition("-")
        try:
            bounds = (float(low), float(high or low))
        except ValueError:
            raise ConfigError(
                f"{name}: expected {keyword} or `min-max` seconds, got {raw!r}"
            ) from None
        if not 0 <= bounds[0] <= bounds[1]:
            raise ConfigError(f"{name}: expected 0 <= min <= max, got {raw!r}")
        return bounds

    def choice(self, name: str, allowed: tuple[_Option, ...], *, upper: bool = False) -> _Option:
        raw = self.text(name)
        raw = raw.upper() if upper else raw.lower()
        for option in allowed:
            if option == raw:
                return option
        raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")

    def partner_emulator(
        self, name: str, home: Path, *, secret: str | None, credential: str | None
    ) -> PartnerEmulatorSettings:
        prefix = f"GRIDHOOK_{name}_EMULATOR_"
        return PartnerEmulatorSettings(
            host=self.text(prefix + "HOST"),
            port=self.integer(prefix + "PORT", minimum=0, maximum=65_535),
            database=Path(self.text(prefix + "DB") or home / f"{name.lower()}-emulator.db"),
            faults=Faults(
                error_rate=self.rate(prefix + "ERROR_RATE"),
                timeout_rate=self.rate(prefix + "TIMEOUT_RATE"),
                hang_seconds=self.seconds("GRIDHOOK_EMULATOR_HANG_SECONDS"),
                slow_seconds=self.non_negative(prefix + "SLOW_SECONDS"),
            ),
            webhook_url=self.text(prefix + "WEBHOOK_URL"),
            webhook_secret=secret,
            credential=credential,
            day_seconds=self.seconds("GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS"),
            stale_plans=self.integer("GRIDHOOK_LIGHT_EMULATOR_STALE_PLANS", minimum=0),
        )

    def non_negative(self, name: str) -> float:
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{name}: must not be negative, got {raw!r}")
        return value

    def secret_list(self, name: str) -> tuple[str, ...]:
        """Comma-separated secrets. Errors name the position, never the value."""
        secrets = tuple(part.strip() for part in self.text(name).split(",") if part.strip())
        for position, secret in enumerate(secrets, start=1):
            if len(secret) < 8:
                raise ConfigError(f"{name}: secret #{position} is shorter than 8 characters")
        return secrets
