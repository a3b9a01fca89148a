"""Every environment variable gridhook reads, declared once: its name, default, meaning, and
type with its bounds (`gridhook.contract.variables`). `Settings.from_env` reads these
declarations and nothing else; `VARIABLES` lists them in order for the settings page of the
docs and the compose file's test. (This module is one long table on purpose, read top to
bottom: the list of what can be configured.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

from gridhook.contract import variables as v

SignatureScheme = Literal["standard-webhooks", "stripe", "github"]
LogFormat = Literal["auto", "json", "console"]
Compression = Literal["none", "gzip", "lz4", "snappy", "zstd"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

T = TypeVar("T")
_declared: list[v.Setting[object]] = []


def _declare(setting: v.Setting[T]) -> v.Setting[T]:
    _declared.append(setting)  # type: ignore[arg-type]
    return setting


# -- where things are, and logs -----------------------------------------------------------

BOOTSTRAP = _declare(
    v.optional_text(
        "KAFKA_BOOTSTRAP_SERVERS",
        "Comma-separated Kafka brokers. Unset: `make run` and the tests start the embedded broker.",
    )
)
HOME = _declare(
    v.text("GRIDHOOK_HOME", ".gridhook", "Directory for local state: Kafka jars and data, logs.")
)
LOG_FORMAT = _declare(
    v.choice(
        "GRIDHOOK_LOG_FORMAT",
        "auto",
        "`json`, `console`, or `auto` (console on a terminal).",
        get_args(LogFormat),
    )
)
LOG_LEVEL = _declare(
    v.choice("GRIDHOOK_LOG_LEVEL", "INFO", "Python log level name.", get_args(LogLevel), upper=True)
)

# -- the ingress ----------------------------------------------------------------------------

HTTP_HOST = _declare(v.text("GRIDHOOK_HTTP_HOST", "127.0.0.1", "Address the ingress listens on."))
HTTP_PORT = _declare(v.port("GRIDHOOK_HTTP_PORT", 8080, "Port the ingress listens on."))
MAX_BODY_BYTES = _declare(
    v.whole(
        "GRIDHOOK_MAX_BODY_BYTES",
        1048576,
        "Largest request body accepted; larger is 413.",
        minimum=1,
    )
)
INGRESS_WORKERS = _declare(
    v.whole(
        "GRIDHOOK_INGRESS_WORKERS",
        1,
        "Ingress processes sharing the port (SO_REUSEPORT); one per spare core is a good start.",
        minimum=1,
        maximum=64,
    )
)
PUBLISH_TIMEOUT = _declare(
    v.seconds(
        "GRIDHOOK_PUBLISH_TIMEOUT",
        5,
        "Seconds to wait for Kafka's acknowledgement before answering 503.",
    )
)
MAX_PUBLISHES_IN_FLIGHT = _declare(
    v.whole(
        "GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT",
        128,
        "Load shedding: webhooks handed to Kafka and not yet acknowledged, per ingress process, "
        "past which a new request is answered 503 with Retry-After: 1 at once, ahead of aiohttp "
        "or before its body is read (0: no limit).",
        minimum=0,
    )
)
DEDUP_WINDOW = _declare(
    v.seconds(
        "GRIDHOOK_DEDUP_WINDOW",
        86400,
        "Seconds a webhook id is remembered to drop Light's retries.",
    )
)
DEDUP_MAX_IDS = _declare(
    v.whole("GRIDHOOK_DEDUP_MAX_IDS", 100000, "Most webhook ids remembered at once.", minimum=1)
)
READ_YOUR_WRITES_WAIT = _declare(
    v.seconds(
        "GRIDHOOK_READ_YOUR_WRITES_WAIT",
        3,
        "Most seconds a bind waits for the state applier to apply the customer syncs accepted "
        "before it, rather than refuse it on stale state; past it, 503.",
    )
)

# -- Kafka ----------------------------------------------------------------------------------

KAFKA_CLIENT_ID = _declare(
    v.text("GRIDHOOK_KAFKA_CLIENT_ID", "gridhook", "Client id sent to Kafka.")
)
KAFKA_COMPRESSION = _declare(
    v.choice(
        "GRIDHOOK_KAFKA_COMPRESSION",
        "lz4",
        "Producer compression: none, gzip, lz4, snappy or zstd.",
        get_args(Compression),
    )
)
KAFKA_LINGER_MS = _declare(
    v.whole(
        "GRIDHOOK_KAFKA_LINGER_MS",
        0,
        "Producer linger: how long a batch may wait to fill. Under load batches fill anyway "
        "(one batch per partition is in flight at a time); 0 keeps a quiet ingress's p50 low.",
        minimum=0,
        maximum=60_000,
    )
)
REPLICATION_FACTOR = _declare(
    v.optional_whole(
        "GRIDHOOK_TOPIC_REPLICATION_FACTOR",
        "Replication factor `gridhook topics ensure` creates topics with. Unset: min(3, brokers "
        "the cluster has), with `min.insync.replicas` one less from 3 up.",
        minimum=1,
        maximum=32,
    )
)

# -- the state store and the consumers -------------------------------------------------------

DATABASE_URL = _declare(
    v.optional_text(
        "GRIDHOOK_DATABASE_URL",
        "State store URL: `sqlite:///path` or `postgresql://user:pass@host/db`. "
        "Unset: SQLite at `$GRIDHOOK_HOME/state.db`.",
    )
)
ADMIN_TOKEN = _declare(
    v.optional_secret(
        "GRIDHOOK_ADMIN_TOKEN",
        "Bearer token for the read API (`/v1/...` GETs). Unset: the read API answers 401.",
        shortest=16,
    )
)
APPLIED_EVENTS_DAYS = _declare(
    v.seconds(
        "GRIDHOOK_APPLIED_EVENTS_DAYS",
        7,
        "Days the state applier remembers an applied event id; a redelivery after that is "
        "applied again, which changes nothing.",
    )
)
CONSUMER_METRICS_HOST = _declare(
    v.text(
        "GRIDHOOK_CONSUMER_METRICS_HOST",
        "127.0.0.1",
        "Address each consumer process serves GET /metrics on.",
    )
)
CONSUMER_METRICS_PORT = _declare(
    v.port(
        "GRIDHOOK_CONSUMER_METRICS_PORT",
        0,
        "Port of a consumer process's /metrics (0: a free port, logged at start, so replicas "
        "on one host never clash; `make run` gives each process its own).",
    )
)
CONSOLE_HOST = _declare(
    v.text("GRIDHOOK_CONSOLE_HOST", "127.0.0.1", "Address the operator console listens on.")
)
CONSOLE_PORT = _declare(v.port("GRIDHOOK_CONSOLE_PORT", 8070, "Port of the operator console."))
CONSOLE_USERS = _declare(
    v.optional_text(
        "GRIDHOOK_CONSOLE_USERS",
        "The console's operators: a JSON file of names, roles (viewer, operator) and argon2 "
        "password hashes (`gridhook console-user` writes it). Unset: "
        "`$GRIDHOOK_HOME/console-users.json` (`make run` makes an operator and a viewer).",
    )
)
CONSOLE_PROCESSES = _declare(
    v.text(
        "GRIDHOOK_CONSOLE_PROCESSES",
        "",
        "The processes the console's health page asks whether they are up: `name=url,...`, "
        "each url a /healthz or /metrics (`make run` lists its own). Unset: the ingress only.",
    )
)
CONSOLE_SESSION_HOURS = _declare(
    v.hours(
        "GRIDHOOK_CONSOLE_SESSION_HOURS",
        8,
        "Hours an operator console session lasts after logging in.",
    )
)
CONSUMER_BATCH = _declare(
    v.whole(
        "GRIDHOOK_CONSUMER_BATCH",
        2000,
        "Most records a consumer takes from Kafka per batch.",
        minimum=1,
        maximum=10_000,
    )
)

# -- partners' credentials -------------------------------------------------------------------

LIGHT_SECRETS = _declare(
    v.secrets(
        "GRIDHOOK_LIGHT_SECRETS",
        "Comma-separated Light signing secrets (`whsec_…`); any one matching signature passes.",
    )
)
LIGHT_SIGNATURE_SCHEME = _declare(
    v.choice(
        "GRIDHOOK_LIGHT_SIGNATURE_SCHEME",
        "standard-webhooks",
        "How Light signs: standard-webhooks, stripe or github.",
        get_args(SignatureScheme),
    )
)
LIGHT_TOLERANCE = _declare(
    v.whole(
        "GRIDHOOK_LIGHT_TOLERANCE",
        300,
        "Seconds a signed timestamp may be in the past or the future.",
        minimum=1,
    )
)
POWERBOX_JWKS = _declare(
    v.optional_text(
        "GRIDHOOK_POWERBOX_JWKS",
        "JWKS of the utility's identity provider: an https URL or a file path. Unset: every "
        "PowerBox request is 401 (`make run` sets a dev JWKS).",
    )
)
POWERBOX_ISSUER = _declare(
    v.text(
        "GRIDHOOK_POWERBOX_ISSUER", "gridhook-dev-idp", "Required `iss` of PowerBox bearer tokens."
    )
)
POWERBOX_AUDIENCE = _declare(
    v.text(
        "GRIDHOOK_POWERBOX_AUDIENCE",
        "gridhook-powerbox",
        "Required `aud` of PowerBox bearer tokens.",
    )
)
WATTSHIFT_API_KEYS = _declare(
    v.secrets(
        "GRIDHOOK_WATTSHIFT_API_KEYS",
        "Comma-separated API keys accepted in `x-ws-api-key` on /webhooks/wattshift.",
    )
)
BRIGHT_API_KEYS = _declare(
    v.secrets(
        "GRIDHOOK_BRIGHT_API_KEYS",
        "Comma-separated API keys accepted in `x-api-key` on /webhooks/bright and the Data "
        "Layer (/data-layer/v1).",
    )
)

# -- tenants -------------------------------------------------------------------------------

TENANTS_FILE = _declare(
    v.optional_text(
        "GRIDHOOK_TENANTS_FILE",
        "TOML file declaring the tenants beside the default one (utilities and partner apps, "
        "each with its credentials, endpoints and limits: docs/tenants.md); re-read on SIGHUP, "
        "a bad file refused while the old one stays. Unset: the environment's single tenant.",
    )
)
DEFAULT_RATE = _declare(
    v.optional_number(
        "GRIDHOOK_DEFAULT_TENANT_RATE",
        "Requests per second the default tenant may send (a token bucket; 429 past it). "
        "Unset: unlimited.",
    )
)
DEFAULT_BURST = _declare(
    v.optional_number(
        "GRIDHOOK_DEFAULT_TENANT_BURST",
        "The default tenant's burst above its rate. Unset: its rate.",
    )
)
LIGHT_PUBLIC_KEYS = _declare(
    v.public_keys(
        "GRIDHOOK_LIGHT_PUBLIC_KEYS",
        "Comma-separated Standard Webhooks public keys (`whpk_...`, ed25519): Light deliveries "
        "signed `v1a` with the matching private key pass, beside `v1` under the secrets.",
    )
)

# -- personal data -------------------------------------------------------------------------

MASTER_KEYS = _declare(
    v.secrets(
        "GRIDHOOK_MASTER_KEYS",
        "Master keys that wrap each person's data key: comma-separated `id:base64` (32 random "
        "bytes each); the first wraps, any unwraps (rotation: docs/data-layer.md). Unset: no "
        "personal datum is accepted (an installation's `customer`, the Data Layer's users: "
        "503). `make run` makes one.",
        shortest=10,
    )
)
BLIND_INDEX_KEY = _declare(
    v.optional_secret(
        "GRIDHOOK_BLIND_INDEX_KEY",
        "Key (base64 of 32 bytes) of the blind index a person is searched by (an HMAC of their "
        "normalised email or personal number); not a master key. `make run` makes one.",
        shortest=40,
    )
)
URL_SIGNING_KEY = _declare(
    v.optional_secret(
        "GRIDHOOK_URL_SIGNING_KEY",
        "Key (at least 32 characters) signing the Data Layer's short-lived invoice URLs. Unset: "
        "those URLs are not offered (503). `make run` makes one.",
        shortest=32,
    )
)
KEYS_DATABASE_URL = _declare(
    v.optional_text(
        "GRIDHOOK_KEYS_DATABASE_URL",
        "Where the wrapped data keys live, apart from the state (its backups kept briefly: "
        "deleting a key is what erases a person). Unset: SQLite at `$GRIDHOOK_HOME/keys.db`.",
    )
)
INVOICE_URL_SECONDS = _declare(
    v.seconds(
        "GRIDHOOK_INVOICE_URL_SECONDS",
        300,
        "How long a Data Layer invoice URL stays valid.",
    )
)

# -- the AMI/HAN gateway emulator and the bind forwarder ------------------------------------

EMULATOR_HOST = _declare(
    v.text(
        "GRIDHOOK_EMULATOR_HOST", "127.0.0.1", "Address the AMI/HAN gateway emulator listens on."
    )
)
EMULATOR_PORT = _declare(v.port("GRIDHOOK_EMULATOR_PORT", 8090, "Port of the gateway emulator."))
EMULATOR_DB = _declare(
    v.optional_text(
        "GRIDHOOK_EMULATOR_DB",
        "SQLite file keeping the emulator's requests and joined devices. "
        "Unset: `$GRIDHOOK_HOME/emulator.db`.",
    )
)
EMULATOR_JOIN_SECONDS = _declare(
    v.seconds_range(
        "GRIDHOOK_EMULATOR_JOIN_SECONDS",
        "realistic",
        "How long a HAN join or leave takes: `realistic` (most within 15 min, a tail to 48 h) "
        "or uniformly `min-max` seconds; divided by GRIDHOOK_EMULATOR_TIME_SCALE.",
    )
)
EMULATOR_TIME_SCALE = _declare(
    v.seconds(
        "GRIDHOOK_EMULATOR_TIME_SCALE",
        1,
        "How much faster than real time the emulated HAN runs (`make run` sets 600: 15 min "
        "in 1.5 s).",
    )
)
EMULATOR_UNREACHABLE_RATE = _declare(
    v.rate(
        "GRIDHOOK_EMULATOR_UNREACHABLE_RATE",
        0.1,
        "Share of join attempts failing because the meter's radio is unreachable (transient).",
    )
)
EMULATOR_ERROR_RATE = _declare(
    v.rate("GRIDHOOK_EMULATOR_ERROR_RATE", 0.05, "Share of head-end API calls answered 503.")
)
EMULATOR_TIMEOUT_RATE = _declare(
    v.rate(
        "GRIDHOOK_EMULATOR_TIMEOUT_RATE",
        0.02,
        "Share of head-end API calls that hang for GRIDHOOK_EMULATOR_HANG_SECONDS.",
    )
)
EMULATOR_HANG_SECONDS = _declare(
    v.seconds("GRIDHOOK_EMULATOR_HANG_SECONDS", 10, "How long a hanging call hangs.")
)
EMULATOR_MAX_DEVICES = _declare(
    v.whole("GRIDHOOK_EMULATOR_MAX_DEVICES", 3, "Most HAN devices one meter holds.", minimum=1)
)
EMULATOR_READ_MINUTES = _declare(
    v.seconds(
        "GRIDHOOK_EMULATOR_READ_MINUTES",
        1,
        "How often, in minutes of the emulators' calendar, a joined device reads its meter "
        "(`make run` sets 15).",
    )
)
EMULATOR_READINGS_URL = _declare(
    v.text(
        "GRIDHOOK_EMULATOR_READINGS_URL",
        "http://127.0.0.1:8080/v1/powerbox/readings",
        "Where the head-end emulator forwards its devices' meter reads (gridhook's ingress).",
    )
)
EMULATOR_TOKEN_KEY = _declare(
    v.optional_text(
        "GRIDHOOK_EMULATOR_TOKEN_KEY",
        "PEM file of the ES256 key the head-end emulator signs its bearer tokens with (the "
        "utility IdP's, in development the dev identity's). Unset: it forwards no reads.",
    )
)
EMULATOR_SOLAR_HOMES = _declare(
    v.kilowatts_by_id(
        "GRIDHOOK_EMULATOR_SOLAR_HOMES",
        "Homes with solar, and its size: `id:kW,...`, where id is a meter id (for the "
        "head-end's reads) or an ESI ID (for Light's usage); `make run` gives the walk's home "
        "7.6 kW. The others export nothing.",
    )
)
EMULATOR_READ_LATE_RATE = _declare(
    v.rate(
        "GRIDHOOK_EMULATOR_READ_LATE_RATE",
        0,
        "Share of meter reads held back and sent in a later batch (late, out of order).",
    )
)
EMULATOR_READ_REPEAT_RATE = _declare(
    v.rate("GRIDHOOK_EMULATOR_READ_REPEAT_RATE", 0, "Share of meter reads sent twice.")
)
EMULATOR_READ_GAP_RATE = _declare(
    v.rate(
        "GRIDHOOK_EMULATOR_READ_GAP_RATE",
        0,
        "Chance, at each read, that a meter's HAN drops for a while (minutes to hours of the "
        "calendar): the reads of that time are never sent.",
    )
)
USAGE_CHECK_SECONDS = _declare(
    v.seconds(
        "GRIDHOOK_USAGE_CHECK_SECONDS",
        3600,
        "How often the usage fetcher asks Light for the days of usage it does not have yet, "
        "per active location (`make run` sets 2).",
    )
)
MEASUREMENTS_RETENTION_DAYS = _declare(
    v.whole(
        "GRIDHOOK_MEASUREMENTS_RETENTION_DAYS",
        800,
        "Days of meter reads and intervals the store keeps (by the intervals' own time); older "
        "ones are deleted once a day.",
        minimum=1,
    )
)
GATEWAY_URL = _declare(
    v.text(
        "GRIDHOOK_GATEWAY_URL",
        "http://127.0.0.1:8090",
        "Base URL of the AMI head-end (the emulator in development) the bind forwarder calls.",
    )
)
GATEWAY_TIMEOUT = _declare(
    v.seconds(
        "GRIDHOOK_GATEWAY_TIMEOUT",
        5,
        "Seconds one call to the head-end may take before it counts as a transient failure.",
    )
)
BIND_MAX_ATTEMPTS = _declare(
    v.whole(
        "GRIDHOOK_BIND_MAX_ATTEMPTS",
        10,
        "Most times the forwarder submits one request whose join failed transiently (meter "
        "unreachable) before it fails it.",
        minimum=1,
    )
)
BIND_BACKOFF_MAX = _declare(
    v.seconds(
        "GRIDHOOK_BIND_BACKOFF_MAX",
        30,
        "Longest wait, in seconds, between two attempts at one request (exponential with jitter).",
    )
)
BIND_POLL_MAX = _declare(
    v.seconds(
        "GRIDHOOK_BIND_POLL_MAX",
        300,
        "Longest wait, in seconds, between two status reads of a join in progress (the wait "
        "grows from 1 s).",
    )
)
BIND_DEADLINE = _declare(
    v.seconds(
        "GRIDHOOK_BIND_DEADLINE",
        172800,
        "Seconds a request may stay pending (48 h, as a HAN join may take) before it is "
        "published as failed (`deadline_passed`); a later join is still reconciled.",
    )
)

# -- the installation orchestrator -------------------------------------------------------------

LIGHT_API_URL = _declare(
    v.text(
        "GRIDHOOK_LIGHT_API_URL",
        "http://127.0.0.1:8091",
        "Base URL of Light's API the orchestrator calls (the Light emulator in development).",
    )
)
LIGHT_APP_TOKEN = _declare(
    v.optional_text(
        "GRIDHOOK_LIGHT_APP_TOKEN",
        "Light app token (backend only) the orchestrator calls Light with; the emulator "
        "accepts it. Unset: the orchestrator cannot call Light (`make run` sets one).",
    )
)
WATTSHIFT_API_URL = _declare(
    v.text(
        "GRIDHOOK_WATTSHIFT_API_URL",
        "http://127.0.0.1:8092",
        "Base URL of WattShift's API the orchestrator onboards homes with (the emulator in "
        "development).",
    )
)
WATTSHIFT_CLIENT_KEY = _declare(
    v.optional_text(
        "GRIDHOOK_WATTSHIFT_CLIENT_KEY",
        "The `x-ws-api-key` the orchestrator calls WattShift with; the emulator accepts it.",
    )
)
PARTNER_TIMEOUT = _declare(
    v.seconds(
        "GRIDHOOK_PARTNER_TIMEOUT",
        10,
        "Seconds one call to Light's or WattShift's API may take before it counts as transient.",
    )
)
PARTNER_BACKOFF_MAX = _declare(
    v.seconds(
        "GRIDHOOK_PARTNER_BACKOFF_MAX",
        60,
        "Longest wait, in seconds, between two attempts at a partner call (exponential, jitter).",
    )
)
INSTALLATION_CHECK_SECONDS = _declare(
    v.seconds(
        "GRIDHOOK_INSTALLATION_CHECK_SECONDS",
        30,
        "How often a waiting installation looks again at the meter, the Light account and the "
        "service.",
    )
)

# -- the Light and WattShift API emulators -----------------------------------------------------


@dataclass(frozen=True)
class PartnerEmulatorVariables:
    """The variables of one partner API emulator (Light's or WattShift's)."""

    host: v.Setting[str]
    port: v.Setting[int]
    database: v.Setting[str | None]
    error_rate: v.Setting[float]
    timeout_rate: v.Setting[float]
    slow_seconds: v.Setting[float]
    webhook_url: v.Setting[str]


def _partner_emulator(name: str, port: int, what: str) -> PartnerEmulatorVariables:
    prefix = f"GRIDHOOK_{name}_EMULATOR_"
    return PartnerEmulatorVariables(
        host=_declare(v.text(prefix + "HOST", "127.0.0.1", f"Address the {what} listens on.")),
        port=_declare(v.port(prefix + "PORT", port, f"Port of the {what}.")),
        database=_declare(
            v.optional_text(
                prefix + "DB",
                f"SQLite file keeping the {what}'s state. Unset: "
                f"`$GRIDHOOK_HOME/{name.lower()}-emulator.db`.",
            )
        ),
        error_rate=_declare(
            v.rate(
                prefix + "ERROR_RATE",
                0,
                f"Share of {what} calls answered 503 (half of them after doing the work).",
            )
        ),
        timeout_rate=_declare(
            v.rate(
                prefix + "TIMEOUT_RATE",
                0,
                f"Share of {what} calls that hang for GRIDHOOK_EMULATOR_HANG_SECONDS.",
            )
        ),
        slow_seconds=_declare(
            v.non_negative_seconds(
                prefix + "SLOW_SECONDS",
                0,
                f"Seconds every {what} call is answered late (its work done at once).",
            )
        ),
        webhook_url=_declare(
            v.text(
                prefix + "WEBHOOK_URL",
                f"http://127.0.0.1:8080/webhooks/{name.lower()}",
                f"Where the {what} sends its webhooks (gridhook's ingress).",
            )
        ),
    )


LIGHT_EMULATOR = _partner_emulator("LIGHT", 8091, "Light API emulator")
WATTSHIFT_EMULATOR = _partner_emulator("WATTSHIFT", 8092, "WattShift API emulator")
EMULATOR_DAY_SECONDS = _declare(
    v.seconds(
        "GRIDHOOK_EMULATOR_DAY_SECONDS",
        86400,
        "Real seconds a day takes in the emulators' calendar, which all three share: Light's "
        "plan expiry, service dates and usage, the meter reads' times, WattShift's prices "
        "(`make run` sets 10).",
    )
)
EMULATOR_EPOCH = _declare(
    v.optional_number(
        "GRIDHOOK_EMULATOR_EPOCH",
        "Unix time at which the emulators' calendar starts (their clocks agree from it). Unset: "
        "each emulator's first start, kept in its state (`make run` fixes one for all).",
    )
)
LIGHT_EMULATOR_STALE_PLANS = _declare(
    v.whole(
        "GRIDHOOK_LIGHT_EMULATOR_STALE_PLANS",
        0,
        "How many plan requests of each account the Light emulator answers with plans that "
        "have already expired (fault injection).",
        minimum=0,
    )
)

VARIABLES: tuple[v.Setting[object], ...] = tuple(_declared)
"""Every variable gridhook reads, in the order of the settings table."""
