"""Every setting gridhook reads, as typed sections read from the environment in one place.

`Settings.from_env()` is the only code that looks at `os.environ`: it reads each variable from
its one declaration (`gridhook.contract.environment`), validates it, and raises `ConfigError`
naming the first bad variable, so a typo fails at start-up, not at the first webhook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gridhook.contract import environment as var
from gridhook.contract.environment import VARIABLES, Compression, LogFormat, SignatureScheme
from gridhook.contract.errors import ConfigError
from gridhook.contract.personal import MasterKeys, decode_key
from gridhook.contract.variables import Setting

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = PROJECT_ROOT / "schemas"

T = TypeVar("T")

__all__ = [
    "PROJECT_ROOT",
    "SCHEMAS_DIR",
    "VARIABLES",
    "Compression",
    "LogFormat",
    "Settings",
    "SignatureScheme",
]


# -- the sections gridhook's code reads ----------------------------------------------------


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach Kafka and how to produce to it."""

    bootstrap_servers: str | None
    client_id: str
    compression: Compression
    linger_ms: int
    replication_factor: int | None

    @property
    def bootstrap(self) -> str:
        """The brokers' address; `ConfigError` when nobody resolved it (the `gridhook` command
        does, from KAFKA_BOOTSTRAP_SERVERS or the running dev cluster)."""
        if not self.bootstrap_servers:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS is not set and no dev broker runs")
        return self.bootstrap_servers


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
    public_keys: tuple[str, ...]
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
class Calendar:
    """The emulators' shared calendar: how long a day lasts, and when it started (None: each
    emulator's first start)."""

    day_seconds: float
    epoch: float | None


@dataclass(frozen=True)
class MeterReads:
    """How the head-end emulator's devices read their meters, and where the reads go."""

    every_minutes: float
    url: str
    token_key: Path | None
    issuer: str
    audience: str
    solar_kw: dict[str, float]
    late_rate: float
    repeat_rate: float
    gap_rate: float


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
    calendar: Calendar
    reads: MeterReads


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
    calendar: Calendar
    solar_kw: dict[str, float]
    """Light's usage: solar by ESI ID."""
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
class TenancySettings:
    """Where the tenants are declared, and the default tenant's limits."""

    tenants_file: Path | None
    default_rate: float | None
    default_burst: float | None


@dataclass(frozen=True)
class PeopleSettings:
    """How personal data is sealed and found (`gridhook.contract.personal`), where the data
    keys live, and how long an invoice URL lasts."""

    master_keys: MasterKeys | None
    index_key: bytes | None
    url_key: bytes | None
    keys_database_url: str
    invoice_url_seconds: float


@dataclass(frozen=True)
class MeasurementSettings:
    """How long measurements are kept, and how often Light is asked for new usage."""

    retention_days: int
    usage_check_seconds: float


@dataclass(frozen=True)
class ConsumerSettings:
    """Where each consumer process serves its metrics."""

    metrics_host: str
    metrics_port: int


@dataclass(frozen=True)
class ConsoleSettings:
    """The operator console's listener, sessions, operators, and the processes it watches."""

    host: str
    port: int
    session_seconds: float
    users: Path
    processes: dict[str, str]


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
    measurements: MeasurementSettings
    people: PeopleSettings
    tenancy: TenancySettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise `ConfigError` naming the first bad variable."""
        env = os.environ if environ is None else environ

        def read(setting: Setting[T]) -> T:
            return setting.read(env)

        home = Path(read(var.HOME))
        home = home if home.is_absolute() else PROJECT_ROOT / home
        emulator_hang = read(var.EMULATOR_HANG_SECONDS)

        def partner_emulator(
            variables: var.PartnerEmulatorVariables, default_db: str, secret: str | None,
            credential: str | None,
        ) -> PartnerEmulatorSettings:  # fmt: skip
            return PartnerEmulatorSettings(
                host=read(variables.host),
                port=read(variables.port),
                database=Path(read(variables.database) or home / default_db),
                faults=Faults(
                    error_rate=read(variables.error_rate),
                    timeout_rate=read(variables.timeout_rate),
                    hang_seconds=emulator_hang,
                    slow_seconds=read(variables.slow_seconds),
                ),
                webhook_url=read(variables.webhook_url),
                webhook_secret=secret,
                credential=credential,
                calendar=calendar,
                solar_kw=solar,
                stale_plans=read(var.LIGHT_EMULATOR_STALE_PLANS),
            )

        calendar = Calendar(read(var.EMULATOR_DAY_SECONDS), read(var.EMULATOR_EPOCH))
        solar = read(var.EMULATOR_SOLAR_HOMES)
        light_secrets = read(var.LIGHT_SECRETS)
        wattshift_keys = read(var.WATTSHIFT_API_KEYS)
        light_app_token = read(var.LIGHT_APP_TOKEN)
        wattshift_client_key = read(var.WATTSHIFT_CLIENT_KEY)
        return cls(
            home=home,
            log_format=read(var.LOG_FORMAT),
            log_level=read(var.LOG_LEVEL),
            kafka=KafkaSettings(
                bootstrap_servers=read(var.BOOTSTRAP),
                client_id=read(var.KAFKA_CLIENT_ID),
                compression=read(var.KAFKA_COMPRESSION),
                linger_ms=read(var.KAFKA_LINGER_MS),
                replication_factor=read(var.REPLICATION_FACTOR),
            ),
            http=HttpSettings(
                host=read(var.HTTP_HOST),
                port=read(var.HTTP_PORT),
                workers=read(var.INGRESS_WORKERS),
                max_body_bytes=read(var.MAX_BODY_BYTES),
                publish_timeout=read(var.PUBLISH_TIMEOUT),
                max_publishes_in_flight=read(var.MAX_PUBLISHES_IN_FLIGHT),
                dedup_window=read(var.DEDUP_WINDOW),
                dedup_max_ids=read(var.DEDUP_MAX_IDS),
                read_your_writes_wait=read(var.READ_YOUR_WRITES_WAIT),
            ),
            store=StoreSettings(
                database_url=read(var.DATABASE_URL) or f"sqlite:///{home / 'state.db'}",
                admin_token=read(var.ADMIN_TOKEN),
                consumer_batch=read(var.CONSUMER_BATCH),
                applied_events_days=read(var.APPLIED_EVENTS_DAYS),
            ),
            light=LightSettings(
                secrets=light_secrets,
                public_keys=read(var.LIGHT_PUBLIC_KEYS),
                scheme=read(var.LIGHT_SIGNATURE_SCHEME),
                tolerance=read(var.LIGHT_TOLERANCE),
            ),
            partners=PartnerSettings(
                powerbox_jwks=read(var.POWERBOX_JWKS),
                powerbox_issuer=read(var.POWERBOX_ISSUER),
                powerbox_audience=read(var.POWERBOX_AUDIENCE),
                wattshift_api_keys=wattshift_keys,
                bright_api_keys=read(var.BRIGHT_API_KEYS),
            ),
            emulator=EmulatorSettings(
                host=read(var.EMULATOR_HOST),
                port=read(var.EMULATOR_PORT),
                database=Path(read(var.EMULATOR_DB) or home / "emulator.db"),
                join_seconds=read(var.EMULATOR_JOIN_SECONDS),
                time_scale=read(var.EMULATOR_TIME_SCALE),
                unreachable_rate=read(var.EMULATOR_UNREACHABLE_RATE),
                error_rate=read(var.EMULATOR_ERROR_RATE),
                timeout_rate=read(var.EMULATOR_TIMEOUT_RATE),
                hang_seconds=emulator_hang,
                max_devices=read(var.EMULATOR_MAX_DEVICES),
                calendar=calendar,
                reads=MeterReads(
                    every_minutes=read(var.EMULATOR_READ_MINUTES),
                    url=read(var.EMULATOR_READINGS_URL),
                    token_key=_path(read(var.EMULATOR_TOKEN_KEY)),
                    issuer=read(var.POWERBOX_ISSUER),
                    audience=read(var.POWERBOX_AUDIENCE),
                    solar_kw=solar,
                    late_rate=read(var.EMULATOR_READ_LATE_RATE),
                    repeat_rate=read(var.EMULATOR_READ_REPEAT_RATE),
                    gap_rate=read(var.EMULATOR_READ_GAP_RATE),
                ),
            ),
            consumer=ConsumerSettings(
                metrics_host=read(var.CONSUMER_METRICS_HOST),
                metrics_port=read(var.CONSUMER_METRICS_PORT),
            ),
            tenancy=TenancySettings(
                tenants_file=_path(read(var.TENANTS_FILE)),
                default_rate=read(var.DEFAULT_RATE),
                default_burst=read(var.DEFAULT_BURST),
            ),
            people=PeopleSettings(
                master_keys=MasterKeys.parse(read(var.MASTER_KEYS), var.MASTER_KEYS.name),
                index_key=_key(read(var.BLIND_INDEX_KEY), var.BLIND_INDEX_KEY.name),
                url_key=None
                if (url_key := read(var.URL_SIGNING_KEY)) is None
                else url_key.encode(),
                keys_database_url=read(var.KEYS_DATABASE_URL) or f"sqlite:///{home / 'keys.db'}",
                invoice_url_seconds=read(var.INVOICE_URL_SECONDS),
            ),
            measurements=MeasurementSettings(
                retention_days=read(var.MEASUREMENTS_RETENTION_DAYS),
                usage_check_seconds=read(var.USAGE_CHECK_SECONDS),
            ),
            console=ConsoleSettings(
                host=read(var.CONSOLE_HOST),
                port=read(var.CONSOLE_PORT),
                session_seconds=read(var.CONSOLE_SESSION_HOURS),
                users=Path(read(var.CONSOLE_USERS) or home / "console-users.json"),
                processes=_named_urls(read(var.CONSOLE_PROCESSES)),
            ),
            bind=BindSettings(
                gateway_url=read(var.GATEWAY_URL).rstrip("/"),
                gateway_timeout=read(var.GATEWAY_TIMEOUT),
                max_attempts=read(var.BIND_MAX_ATTEMPTS),
                backoff_max=read(var.BIND_BACKOFF_MAX),
                poll_max=read(var.BIND_POLL_MAX),
                deadline=read(var.BIND_DEADLINE),
            ),
            installations=InstallationSettings(
                light_url=read(var.LIGHT_API_URL).rstrip("/"),
                light_app_token=light_app_token,
                wattshift_url=read(var.WATTSHIFT_API_URL).rstrip("/"),
                wattshift_key=wattshift_client_key,
                partner_timeout=read(var.PARTNER_TIMEOUT),
                backoff_max=read(var.PARTNER_BACKOFF_MAX),
                check_seconds=read(var.INSTALLATION_CHECK_SECONDS),
            ),
            light_emulator=partner_emulator(
                var.LIGHT_EMULATOR,
                "light-emulator.db",
                next(iter(light_secrets), None),
                light_app_token,
            ),
            wattshift_emulator=partner_emulator(
                var.WATTSHIFT_EMULATOR,
                "wattshift-emulator.db",
                next(iter(wattshift_keys), None),
                wattshift_client_key,
            ),
        )


def _named_urls(raw: str) -> dict[str, str]:
    """`name=url,...`; `ConfigError` naming the variable for anything else."""
    found = {}
    for part in filter(None, (piece.strip() for piece in raw.split(","))):
        name, _, url = part.partition("=")
        if not name or not url.startswith(("http://", "https://")):
            raise ConfigError("GRIDHOOK_CONSOLE_PROCESSES: expected name=http://...,...")
        found[name.strip()] = url.strip()
    return found


def _key(raw: str | None, name: str) -> bytes | None:
    return None if raw is None else decode_key(raw, name)


def _path(raw: str | None) -> Path | None:
    return None if raw is None else Path(raw)
