"""`gridhook run`: the whole stack on one machine, for `make run`.

Starts the embedded broker (unless `KAFKA_BOOTSTRAP_SERVERS` is set), provisions the topics, then
runs each service as a child process. When any child exits, or on Ctrl-C/SIGTERM, it stops every
child (SIGTERM, so they drain) and then the broker, if it started the broker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import shlex
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from types import FrameType

import orjson

from gridhook import walk
from gridhook.contract import running
from gridhook.contract.settings import Settings
from gridhook.dev import calendar, embedded_kafka, kafka_jars
from gridhook.dev.identity import KEY_FILE, ensure_dev_key
from gridhook.dev.ports import free_port
from gridhook.kafka.provision import ensure_topics
from service.console.operators import put as put_operator

log = logging.getLogger("gridhook.run")

CHILD_STOP_TIMEOUT = 10.0
STOP_TIMEOUT = 30.0
"""Seconds the embedded broker gets to shut down cleanly."""


@dataclass(frozen=True)
class Service:
    """A child process of `gridhook run`: a name and the `gridhook` arguments that start it."""

    name: str
    arguments: tuple[str, ...]
    environment: tuple[tuple[str, str], ...] = ()
    metrics_port: int | None = None
    """Which of `CONSUMER_METRICS_PORTS` a consumer serves its metrics on."""


SERVICES: tuple[Service, ...] = (
    Service("ingress", ("ingress",)),
    Service("state applier", ("consume", "state"), metrics_port=0),
    Service("gateway emulator", ("emulator", "ami")),
    Service("Light emulator", ("emulator", "light")),
    Service("WattShift emulator", ("emulator", "wattshift")),
    Service("bind forwarder", ("consume", "bind"), metrics_port=1),
    Service("installation orchestrator", ("consume", "installations"), metrics_port=2),
    Service("measurements consumer", ("consume", "measurements"), metrics_port=3),
    Service("usage fetcher", ("consume", "usage"), metrics_port=4),
    Service("operator console", ("console",)),
)
CONSUMER_METRICS_PORTS = (9101, 9102, 9103, 9104, 9105)
"""Where the consumers serve /metrics in `make run` (free ones when these are taken)."""
CONSUMER_NAMES = ("state", "bind", "installations", "measurements", "usage")

# A laptop's calendar: HAN joins 600 times faster than a real one, an emulated day in 10
# seconds (service starts 70 s after a plan is accepted, a meter read every 15 minutes of it,
# Light's usage of a day ready the next), installations and usage looked at every 2 seconds;
# the walk's home has 7.6 kW of solar; and a head-end that does not misbehave, its joins
# taking 1 to 15 minutes of HAN time (at most 1.5 s here), so that the printed walk goes as
# printed. Faults and the realistic tail of joins, up to 48 hours, are each one setting away.
_DEV_PACE = {
    "GRIDHOOK_EMULATOR_TIME_SCALE": "600",
    "GRIDHOOK_EMULATOR_JOIN_SECONDS": "60-900",
    "GRIDHOOK_EMULATOR_DAY_SECONDS": "10",
    "GRIDHOOK_EMULATOR_READ_MINUTES": "15",
    "GRIDHOOK_EMULATOR_SOLAR_HOMES": f"{walk.METER}:7.6,{walk.ESI_ID}:7.6",
    "GRIDHOOK_INSTALLATION_CHECK_SECONDS": "2",
    "GRIDHOOK_USAGE_CHECK_SECONDS": "2",
    "GRIDHOOK_EMULATOR_UNREACHABLE_RATE": "0",
    "GRIDHOOK_EMULATOR_ERROR_RATE": "0",
    "GRIDHOOK_EMULATOR_TIMEOUT_RATE": "0",
}

_DEV_SECRETS = "dev-secrets.json"
_DEV_ENV = "dev.env"
"""The dev credentials as shell variables, for the printed walk (`. .gridhook/dev.env`)."""
_WALK_VARIABLES = {
    "ADMIN": "GRIDHOOK_ADMIN_TOKEN",
    "LIGHT_APP_TOKEN": "GRIDHOOK_LIGHT_APP_TOKEN",
    "BRIGHT_KEY": "GRIDHOOK_BRIGHT_API_KEYS",
    "CONSOLE_PASSWORD": "CONSOLE_PASSWORD",
}


def run_stack(settings: Settings) -> int:
    """Run broker, topics and services until interrupted; return the exit status: 0 when
    stopped on request with every service stopped cleanly, 1 when a service failed."""
    stop, hurry = threading.Event(), threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: stop at once
            hurry.set()
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker = None
    bootstrap = settings.kafka.bootstrap_servers
    if bootstrap is None:
        broker = embedded_kafka.dev_broker(settings.home)
        if embedded_kafka.running_dev_cluster(settings.home) is not None:
            broker = None  # started by `gridhook kafka start`: leave it running afterwards
            bootstrap = embedded_kafka.bootstrap_servers(None, settings.home)
        else:
            fetching = "" if kafka_jars.fetched(settings.home) else " (fetching its jars first)"
            log.info(f"starting the embedded Kafka broker{fetching}")
            bootstrap = broker.start()
    log.info("kafka ready", extra={"fields": {"bootstrap": bootstrap}})
    children: list[tuple[Service, subprocess.Popen[bytes]]] = []
    epoch = day_seconds = None
    try:
        report = asyncio.run(ensure_topics(bootstrap, settings.kafka.replication_factor))
        log.info(
            "topics ensured",
            extra={"fields": {"created": len(report.created), "existing": len(report.existing)}},
        )
        for drift in report.drift:
            log.warning("topic drift: %s", drift)
        environment = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        environment.update(_dev_credentials(settings))
        for name, value in _DEV_PACE.items():
            environment.setdefault(name, value)
        environment.update(_addresses(settings, environment))
        day_seconds = float(environment["GRIDHOOK_EMULATOR_DAY_SECONDS"])
        epoch = float(
            environment.setdefault(
                "GRIDHOOK_EMULATOR_EPOCH",
                repr(calendar.epoch_continuing(settings.home, day_seconds, time.time())),
            )
        )
        metrics_ports = _free_ports(CONSUMER_METRICS_PORTS)
        environment.setdefault("GRIDHOOK_CONSOLE_PROCESSES", _watched(settings, metrics_ports))
        for service in SERVICES:
            own = dict(service.environment)
            if service.metrics_port is not None:
                own["GRIDHOOK_CONSUMER_METRICS_PORT"] = str(metrics_ports[service.metrics_port])
            process = running.spawn(list(service.arguments), {**environment, **own})
            children.append((service, process))
            log.info("started %s", service.name, extra={"fields": {"pid": process.pid}})
        if _serving(settings, children, stop):
            _print_walk(settings, environment, metrics_ports)
        log.info("gridhook is running; press Ctrl-C to stop")
        while not stop.wait(0.2):
            for service, process in children:
                if process.poll() is not None:
                    log.error("%s exited with status %s", service.name, process.returncode)
                    stop.set()
        failed = any(process.poll() not in (None, 0) for _, process in children)
    finally:
        _stop_children(children, hurry)
        if epoch is not None and day_seconds is not None:
            calendar.remember(settings.home, epoch, day_seconds, time.time())
        if broker is not None:
            log.info("stopping the embedded Kafka broker")
            broker.stop(timeout=0 if hurry.is_set() else STOP_TIMEOUT)
        log.info("stopped")
    return 1 if failed or any(process.returncode != 0 for _, process in children) else 0


def _dev_credentials(settings: Settings) -> dict[str, str]:
    """Credentials for the sources the environment leaves unconfigured, so that `make run`
    works out of the box. Kept in $GRIDHOOK_HOME/dev-secrets.json, stable across runs."""
    path = settings.home / _DEV_SECRETS
    try:
        stored: dict[str, str] = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        stored = {}
    if "GRIDHOOK_LIGHT_SECRETS" not in stored:
        stored["GRIDHOOK_LIGHT_SECRETS"] = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    if "GRIDHOOK_ADMIN_TOKEN" not in stored:
        stored["GRIDHOOK_ADMIN_TOKEN"] = "dev-admin-" + secrets.token_urlsafe(24)
    for name in (
        "GRIDHOOK_WATTSHIFT_API_KEYS",
        "GRIDHOOK_BRIGHT_API_KEYS",
        "GRIDHOOK_LIGHT_APP_TOKEN",
        "GRIDHOOK_WATTSHIFT_CLIENT_KEY",
    ):
        stored.setdefault(name, "dev-" + secrets.token_urlsafe(18))
    for name in ("GRIDHOOK_BLIND_INDEX_KEY", "GRIDHOOK_MASTER_KEYS"):
        if name not in stored:  # 32 random bytes; the master key has an id
            key = base64.b64encode(os.urandom(32)).decode()
            stored[name] = key if name == "GRIDHOOK_BLIND_INDEX_KEY" else f"dev1:{key}"
    stored.setdefault("GRIDHOOK_URL_SIGNING_KEY", "dev-" + secrets.token_urlsafe(32))
    stored.setdefault("CONSOLE_PASSWORD", "dev-" + secrets.token_urlsafe(12))
    users = settings.console.users
    if not users.exists():  # the console's dev operators: `operator` and `viewer`
        put_operator(users, "operator", "operator", stored["CONSOLE_PASSWORD"])
        put_operator(users, "viewer", "viewer", stored["CONSOLE_PASSWORD"])
    stored["GRIDHOOK_POWERBOX_JWKS"] = str(ensure_dev_key(settings.home).jwks_path)
    settings.home.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(stored, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)
    used = {name: os.environ.get(name) or value for name, value in stored.items()}
    shell = {short: used[name].split(",")[0] for short, name in _WALK_VARIABLES.items()}
    shell["LIGHT_SECRET"] = used["GRIDHOOK_LIGHT_SECRETS"].split(",")[0]
    env_file = settings.home / _DEV_ENV
    env_file.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in shell.items()))
    env_file.chmod(0o600)
    return {
        name: value
        for name, value in stored.items()
        if not os.environ.get(name) and name.startswith("GRIDHOOK_")
    }


READY_SECONDS = 90.0
"""How long the supervisor waits for the services to answer before it prints the walk."""


def _serving(
    settings: Settings,
    children: list[tuple[Service, subprocess.Popen[bytes]]],
    stop: threading.Event,
) -> bool:
    """Wait until the ingress is ready and the emulators and the console answer, so that the
    walk printed next works from its first line; False when a child exits or a stop is
    requested meanwhile, or nothing answered in `READY_SECONDS`."""
    urls = [
        _url(settings.http.host, settings.http.port) + "/readyz",
        _url(settings.emulator.host, settings.emulator.port) + "/healthz",
        _url(settings.light_emulator.host, settings.light_emulator.port) + "/healthz",
        _url(settings.wattshift_emulator.host, settings.wattshift_emulator.port) + "/healthz",
        _url(settings.console.host, settings.console.port) + "/login",
    ]
    deadline = time.monotonic() + READY_SECONDS
    waiting = list(urls)
    while waiting and time.monotonic() < deadline:
        if stop.is_set() or any(process.poll() is not None for _, process in children):
            return False
        waiting = [url for url in waiting if not _answers(url)]
        if waiting:
            stop.wait(0.2)
    if waiting:
        log.warning("services still not answering", extra={"fields": {"urls": len(waiting)}})
    return not waiting


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (our own http URL)
            return bool(answer.status == 200)
    except OSError:
        return False


def _addresses(settings: Settings, environment: dict[str, str]) -> dict[str, str]:
    """Where the services reach each other, from where each listens, unless set: the
    emulators' webhooks and the head-end's meter reads (signed with the dev key) go to the
    ingress; the forwarder and the orchestrator call the emulators."""
    ingress = f"http://{_client_host(settings.http.host)}:{settings.http.port}"
    derived = {
        "GRIDHOOK_LIGHT_EMULATOR_WEBHOOK_URL": f"{ingress}/webhooks/light",
        "GRIDHOOK_WATTSHIFT_EMULATOR_WEBHOOK_URL": f"{ingress}/webhooks/wattshift",
        "GRIDHOOK_GATEWAY_URL": _url(settings.emulator.host, settings.emulator.port),
        "GRIDHOOK_LIGHT_API_URL": _url(settings.light_emulator.host, settings.light_emulator.port),
        "GRIDHOOK_WATTSHIFT_API_URL": _url(
            settings.wattshift_emulator.host, settings.wattshift_emulator.port
        ),
        "GRIDHOOK_EMULATOR_READINGS_URL": f"{ingress}/v1/powerbox/readings",
        "GRIDHOOK_EMULATOR_TOKEN_KEY": str(settings.home / KEY_FILE),
    }
    return {name: url for name, url in derived.items() if name not in environment}


def _watched(settings: Settings, metrics_ports: list[int]) -> str:
    """Every process of the stack and its /healthz, for the console's health page."""
    watched = {"ingress": _url(settings.http.host, settings.http.port)}
    watched |= {
        f"{name} consumer": f"http://127.0.0.1:{port}"
        for name, port in zip(CONSUMER_NAMES, metrics_ports, strict=True)
    }
    watched |= {
        "head-end emulator": _url(settings.emulator.host, settings.emulator.port),
        "Light emulator": _url(settings.light_emulator.host, settings.light_emulator.port),
        "WattShift emulator": _url(
            settings.wattshift_emulator.host, settings.wattshift_emulator.port
        ),
    }
    return ",".join(f"{name}={url}/healthz" for name, url in watched.items())


def _url(host: str, port: int) -> str:
    return f"http://{_client_host(host)}:{port}"


def _free_ports(preferred: tuple[int, ...]) -> list[int]:
    """Each of `preferred` when nothing listens there, else a free port."""
    return [free_port(preferred=port) for port in preferred]


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a listen-all address)


def _print_walk(settings: Settings, environment: dict[str, str], metrics_ports: list[int]) -> None:
    ingress = f"http://{_client_host(settings.http.host)}:{settings.http.port}"
    light = settings.light_emulator
    console = f"http://{_client_host(settings.console.host)}:{settings.console.port}"
    addresses = walk.Addresses(
        ingress=ingress,
        light=f"http://{_client_host(light.host)}:{light.port}",
        console=console,
        dev_env=settings.home / _DEV_ENV,
    )
    steps = "\n".join("  " + line if line else "" for line in walk.text(addresses).splitlines())
    consumers = ", ".join(
        f"{name} http://127.0.0.1:{port}/metrics"
        for name, port in zip(CONSUMER_NAMES, metrics_ports, strict=True)
    )
    print(
        f"""
gridhook is running. Walk one installation, in a second terminal in this folder (each step
shows the answer it gets, the first time and when you walk again):

{steps}

Operator console: {console} (log in as `operator`, or `viewer`, with $CONSOLE_PASSWORD)
Metrics: {ingress}/metrics; the consumers': {consumers}
Docs: README.md, and docs/ for every component
""",
        flush=True,
    )


def _stop_children(
    children: list[tuple[Service, subprocess.Popen[bytes]]], hurry: threading.Event
) -> None:
    """Tell each child once to stop (SIGTERM) and wait for them all; kill those still running
    after `CHILD_STOP_TIMEOUT`, or at once when `hurry` is set (a second Ctrl-C)."""
    for _, process in children:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT
    while any(process.poll() is None for _, process in children):
        if hurry.is_set() or time.monotonic() > deadline:
            for service, process in children:
                if process.poll() is None:
                    if not hurry.is_set():
                        log.warning("%s did not stop in time; killing it", service.name)
                    process.kill()
            break
        time.sleep(0.05)
    for _, process in children:
        process.wait()
