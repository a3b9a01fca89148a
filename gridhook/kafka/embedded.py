"""The embedded Apache Kafka broker for development and tests.

The broker is Apache Kafka itself, pinned in `compose/kafka/pom.xml` and fetched by Maven into
`<home>/kafka/lib`. It runs as one KRaft node (broker and controller) on loopback. Its storage is
formatted on first start and kept across restarts. A work directory holds everything of one
broker: `data/`, `server.properties`, `server.log` and `broker.json` (its pid and ports).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from gridhook.contract.errors import GridhookError, ToolingError
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.kafka import clients

POM = PROJECT_ROOT / "compose" / "kafka" / "pom.xml"
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0

_STAMP = ".pom-sha256"
_JAVA_MISSING = (
    "Java was not found on PATH. The embedded Kafka broker needs a Java 17+ runtime "
    "(Debian: apt-get install openjdk-17-jdk-headless), or set KAFKA_BOOTSTRAP_SERVERS "
    "to use an existing Kafka cluster."
)
_MAVEN_MISSING = (
    "Maven was not found on PATH. It fetches the pinned Kafka jars once "
    "(Debian: apt-get install maven), or set KAFKA_BOOTSTRAP_SERVERS "
    "to use an existing Kafka cluster."
)


def jars_dir(home: Path) -> Path:
    """Where the broker's jars are cached."""
    return home / "kafka" / "lib"


def ensure_jars(home: Path) -> Path:
    """Fetch the pinned Kafka jars with Maven unless the cache already matches the pom."""
    lib = jars_dir(home)
    wanted = hashlib.sha256(POM.read_bytes()).hexdigest()
    stamp = lib / _STAMP
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return lib
    if shutil.which("java") is None:
        raise ToolingError(_JAVA_MISSING)
    if shutil.which("mvn") is None:
        raise ToolingError(_MAVEN_MISSING)
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    command = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={lib}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ToolingError(f"Maven could not fetch the Kafka jars:\n{tail}")
    stamp.write_text(wanted)
    return lib


@dataclass(frozen=True)
class BrokerState:
    """What `broker.json` records about a started broker."""

    pid: int
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class EmbeddedKafka:
    """One single-node KRaft broker living in `workdir`."""

    def __init__(self, home: Path, workdir: Path) -> None:
        self.home = home
        self.workdir = workdir
        self.data = workdir / "data"
        self.log_file = workdir / "server.log"
        self._state_file = workdir / "broker.json"

    # -- queries -------------------------------------------------------------------------

    def state(self) -> BrokerState | None:
        """The running broker's state, or None when none is running."""
        try:
            raw = orjson.loads(self._state_file.read_bytes())
            state = BrokerState(int(raw["pid"]), int(raw["port"]), int(raw["controller_port"]))
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return state if _is_kafka_process(state.pid) else None

    # -- lifecycle -----------------------------------------------------------------------

    def start(
        self, port: int = DEFAULT_PORT, controller_port: int = DEFAULT_CONTROLLER_PORT
    ) -> str:
        """Start the broker (or find it running) and return its bootstrap address once it answers.

        A port of 0, or a preferred port that is taken, is replaced by a free one.
        """
        running = self.state()
        if running is not None:
            return running.bootstrap
        lib = ensure_jars(self.home)
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = _free_port(port)
        controller_port = _free_port(controller_port, avoid=port)
        properties = self.workdir / "server.properties"
        properties.write_text(_server_properties(self.data, port, controller_port))
        log4j = self.workdir / "log4j.properties"
        log4j.write_text(_log4j_properties(self.log_file))
        classpath = f"{lib}/*"
        if not (self.data / "meta.properties").exists():
            self._format(classpath, log4j, properties)
        with self.log_file.open("ab") as console:
            process = subprocess.Popen(
                [
                    "java",
                    "-Xms256m",
                    "-Xmx1g",
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j.configuration=file:{log4j}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(properties),
                ],
                stdout=console,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        state = BrokerState(process.pid, port, controller_port)
        self._state_file.write_bytes(
            orjson.dumps({"pid": process.pid, "port": port, "controller_port": controller_port})
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                self._state_file.unlink(missing_ok=True)
                raise ToolingError(
                    f"the Kafka broker exited with status {process.returncode} while starting; "
                    f"see {self.log_file}:\n{self._log_tail()}"
                )
            if asyncio.run(broker_answers(state.bootstrap)):
                return state.bootstrap
            if time.monotonic() > deadline:
                self.stop()
                raise ToolingError(
                    f"the Kafka broker did not answer within {START_TIMEOUT:.0f} s; "
                    f"see {self.log_file}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the broker cleanly (SIGTERM, SIGKILL after `timeout`); False if none ran."""
        state = self.state()
        self._state_file.unlink(missing_ok=True)
        if state is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_kafka_process(state.pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state.pid, signal.SIGKILL)
            time.sleep(0.1)
        return True

    def _format(self, classpath: str, log4j: Path, properties: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            [
                "java",
                f"-Dlog4j.configuration=file:{log4j}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(properties),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ToolingError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


async def broker_answers(bootstrap: str) -> bool:
    """True when a Kafka broker at `bootstrap` answers a metadata request."""
    host, _, port = bootstrap.rpartition(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return False  # not listening yet; spares aiokafka's connection-error log lines
    writer.close()
    try:
        async with clients.admin(bootstrap, request_timeout_ms=3000) as admin:
            await admin.list_topics()
    except GridhookError:
        return False
    return True


def _is_kafka_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"kafka.Kafka" not in cmdline:
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return status != "Z"


def _free_port(preferred: int, avoid: int | None = None) -> int:
    if preferred and preferred != avoid and _port_is_free(preferred):
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != avoid:
            return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _server_properties(data: Path, port: int, controller_port: int) -> str:
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=2097152
"""


def _log4j_properties(log_file: Path) -> str:
    return f"""\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log_file}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def dev_broker(home: Path) -> EmbeddedKafka:
    """The broker `gridhook kafka start` and `make run` use, kept under `<home>/kafka/dev`."""
    return EmbeddedKafka(home, home / "kafka" / "dev")


def bootstrap_servers(configured: str | None, home: Path) -> str:
    """`KAFKA_BOOTSTRAP_SERVERS` when set, else the running dev broker's address."""
    if configured:
        return configured
    state = dev_broker(home).state()
    if state is None:
        raise ToolingError(
            "no Kafka broker: start one with `gridhook kafka start` (or `make run`), "
            "or set KAFKA_BOOTSTRAP_SERVERS"
        )
    return state.bootstrap
