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
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

import orjson

from gridhook.contract.settings import Settings
from gridhook.dev import embedded_kafka
from gridhook.dev.identity import ensure_dev_key
from gridhook.kafka.provision import ensure_topics

log = logging.getLogger("gridhook.run")

CHILD_STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Service:
    """A child process of `gridhook run`: a name and the `gridhook` arguments that start it."""

    name: str
    arguments: tuple[str, ...]
    environment: tuple[tuple[str, str], ...] = ()


def _metrics_port(port: int) -> tuple[tuple[str, str], ...]:
    return (("GRIDHOOK_CONSUMER_METRICS_PORT", str(port)),)


SERVICES: tuple[Service, ...] = (
    Service("ingress", ("ingress",)),
    Service("state applier", ("consume", "state"), _metrics_port(9101)),
    Service("gateway emulator", ("emulator", "ami")),
    Service("Light emulator", ("emulator", "light")),
    Service("WattShift emulator", ("emulator", "wattshift")),
    Service("bind forwarder", ("consume", "bind"), _metrics_port(9102)),
    Service("installation orchestrator", ("consume", "installations"), _metrics_port(9103)),
    Service("operator console", ("console",)),
)

# A laptop's calendar: HAN joins 600 times faster than a real one, a Light day in 10 seconds
# (service starts 70 s after a plan is accepted), installations looked at every 2 seconds.
_DEV_PACE = {
    "GRIDHOOK_EMULATOR_TIME_SCALE": "600",
    "GRIDHOOK_LIGHT_EMULATOR_DAY_SECONDS": "10",
    "GRIDHOOK_INSTALLATION_CHECK_SECONDS": "2",
}

_DEV_SECRETS = "dev-secrets.json"


def run_stack(settings: Settings) -> int:
    """Run broker, topics and services until interrupted; return the exit status."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
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
            log.info("starting the embedded Kafka broker (first start fetches its jars)")
            bootstrap = broker.start()
    log.info("kafka ready", extra={"fields": {"bootstrap": bootstrap}})
    children: list[tuple[Service, subprocess.Popen[bytes]]] = []
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
        ingress = f"http://{_client_host(settings.http.host)}:{settings.http.port}"
        for partner in ("LIGHT", "WATTSHIFT"):
            environment.setdefault(
                f"GRIDHOOK_{partner}_EMULATOR_WEBHOOK_URL", f"{ingress}/webhooks/{partner.lower()}"
            )
        for service in SERVICES:
            process = subprocess.Popen(
                [sys.executable, "-m", "gridhook.cli", *service.arguments],
                env={**environment, **dict(service.environment)},
            )
            children.append((service, process))
            log.info("started %s", service.name, extra={"fields": {"pid": process.pid}})
        _print_try_it(settings, environment)
        log.info("gridhook is running; press Ctrl-C to stop")
        while not stop.wait(0.2):
            for service, process in children:
                if process.poll() is not None:
                    log.error("%s exited with status %s", service.name, process.returncode)
                    stop.set()
        return 0 if all(process.poll() in (None, 0) for _, process in children) else 1
    finally:
        _stop_children(children)
        if broker is not None:
            log.info("stopping the embedded Kafka broker")
            broker.stop()
        log.info("stopped")


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
    stored["GRIDHOOK_POWERBOX_JWKS"] = str(ensure_dev_key(settings.home).jwks_path)
    settings.home.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(stored, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)
    return {name: value for name, value in stored.items() if not os.environ.get(name)}


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a listen-all address)


def _print_try_it(settings: Settings, environment: dict[str, str]) -> None:
    base = f"http://{_client_host(settings.http.host)}:{settings.http.port}"
    secret = environment["GRIDHOOK_LIGHT_SECRETS"].split(",")[0]
    token = environment.get("GRIDHOOK_ADMIN_TOKEN", "$GRIDHOOK_ADMIN_TOKEN")
    app_token = environment.get("GRIDHOOK_LIGHT_APP_TOKEN", "$GRIDHOOK_LIGHT_APP_TOKEN")
    light = settings.light_emulator
    light_base = f"http://{_client_host(light.host)}:{light.port}"
    console = f"http://{_client_host(settings.console.host)}:{settings.console.port}"
    print(
        f"""
Try it (dev credentials are in {settings.home / _DEV_SECRETS}):
  .venv/bin/gridhook sign light --secret {secret} \\
      --file examples/light/enrollment.plan_accepted.json --post {base}/webhooks/light
  curl -H 'Authorization: Bearer {token}' \\
      {base}/v1/accounts/3f1c9a52-8d7e-4b1a-9c2f-6a0d4e8b7c11
  TOKEN=$(.venv/bin/gridhook dev-token)
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      --data-binary @examples/powerbox/customer.json {base}/v1/powerbox/customer
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      --data-binary @examples/powerbox/bind.json {base}/v1/powerbox/bind
  curl -H 'Authorization: Bearer {token}' {base}/v1/powerbox/meters/123456789

Walk one installation from creation to service active (a Light day lasts 10 s here):
  curl -H 'Authorization: Bearer {app_token}' -H 'Content-Type: application/json' \\
      --data-binary @examples/light/account.json {light_base}/v1/app/accounts
  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\
      --data-binary @examples/installations/installation.json {base}/v1/installations
  # then the customer sync and the bind above; the plan is accepted once the device joins
  curl -H 'Authorization: Bearer {token}' {base}/v1/installations/inst-demo-1
  curl {light_base}/v1/emulator/calls

Operator console: {console}  (log in with the admin token above)
Metrics: {base}/metrics, and the consumers' at http://127.0.0.1:9101/metrics (state),
  :9102 (bind forwarder), :9103 (installations)
""",
        flush=True,
    )


def _stop_children(children: list[tuple[Service, subprocess.Popen[bytes]]]) -> None:
    for _, process in children:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT
    for service, process in children:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", service.name)
            process.kill()
            process.wait()
