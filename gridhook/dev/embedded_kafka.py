"""The embedded Apache Kafka cluster for development and tests.

The broker is Apache Kafka itself, pinned in `compose/kafka/pom.xml` and fetched by Maven into
`<home>/kafka/lib`. A cluster is one KRaft node (`make run`), or three where a test or a user
wants a real cluster (`gridhook kafka start --brokers 3`); each node is a broker and a
controller, on loopback. A work directory holds everything of one cluster: `cluster.json` (its
id and the ports of each node), and per node its data, `server.properties`, `server.log` and
pid. Storage is formatted on first start and kept across restarts.

**Stable addresses.** The ports are chosen on the first start (the preferred ones when free,
else free ones) and recorded; every later start of the cluster, or of one node, uses them
again, since every running process dials them. A recorded port that another process listens on
is an error, not a reason to move. Sockets left in TIME_WAIT (a broker SIGKILLed under load, a
run just ended) do not count as taken: the probe binds with SO_REUSEADDR, as Kafka does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from gridhook.contract.errors import GridhookError, ToolingError
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.dev.kafka_jars import ensure_jars
from gridhook.dev.kafka_storage import (
    Node,
    format_storage,
    log4j_properties,
    new_cluster_id,
    server_properties,
)
from gridhook.dev.ports import free_port, port_is_free
from gridhook.kafka import clients

POM = PROJECT_ROOT / "compose" / "kafka" / "pom.xml"
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class ClusterState:
    """A cluster at least one node of which runs: its nodes and the pids of those running."""

    nodes: tuple[Node, ...]
    pids: dict[int, int]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def pid(self) -> int:
        return next(iter(self.pids.values()))


class EmbeddedKafka:
    """A KRaft cluster of `brokers` nodes living in `workdir`."""

    def __init__(self, home: Path, workdir: Path, brokers: int = 1) -> None:
        if brokers < 1:
            raise ToolingError("a cluster needs at least one broker")
        self.home = home
        self.workdir = workdir
        self.brokers = brokers
        self._cluster_file = workdir / "cluster.json"

    # -- where things are ----------------------------------------------------------------

    def _node_dir(self, node_id: int) -> Path:
        # A one-node cluster keeps the layout of earlier releases: data/ in the work directory.
        return self.workdir if self.brokers == 1 else self.workdir / f"node-{node_id}"

    def log_file(self, node_id: int = 1) -> Path:
        return self._node_dir(node_id) / "server.log"

    def _pid_file(self, node_id: int) -> Path:
        return self._node_dir(node_id) / "broker.pid"

    # -- queries -------------------------------------------------------------------------

    def nodes(self) -> tuple[Node, ...] | None:
        """The recorded nodes, or None before the first start."""
        try:
            raw = orjson.loads(self._cluster_file.read_bytes())
            return tuple(
                Node(int(n["node_id"]), int(n["port"]), int(n["controller_port"]))
                for n in raw["nodes"]
            )
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def pid_of(self, node_id: int) -> int | None:
        """The pid of a running node, or None."""
        try:
            pid = int(self._pid_file(node_id).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_kafka_process(pid) else None

    def state(self) -> ClusterState | None:
        """The cluster when some node of it runs, else None."""
        nodes = self.nodes()
        if nodes is None:
            return None
        pids = {node.node_id: pid for node in nodes if (pid := self.pid_of(node.node_id))}
        return ClusterState(nodes, pids) if pids else None

    # -- lifecycle -----------------------------------------------------------------------

    def start(
        self, port: int = DEFAULT_PORT, controller_port: int = DEFAULT_CONTROLLER_PORT
    ) -> str:
        """Start every node not running and return the bootstrap address once all answer.

        On the first start the ports are chosen (the preferred ones, or free ones when those
        are taken or 0) and recorded; later starts use the recorded ones.
        """
        lib = ensure_jars(self.home)
        nodes = self.nodes() or self._choose_ports(port, controller_port)
        cluster_id = self._cluster_id()
        processes = {}
        for node in nodes:
            if self.pid_of(node.node_id) is None:
                processes[node.node_id] = self._launch(lib, node, nodes, cluster_id)
        self._wait_until_answering(nodes, processes)
        return ",".join(node.address for node in nodes)

    def start_node(self, node_id: int) -> None:
        """Start one stopped node again, on its own ports; return once it answers."""
        nodes = self.nodes()
        if nodes is None:
            raise ToolingError("the cluster was never started")
        node = next(n for n in nodes if n.node_id == node_id)
        if self.pid_of(node_id) is not None:
            return
        process = self._launch(ensure_jars(self.home), node, nodes, self._cluster_id())
        self._wait_until_answering((node,), {node_id: process})

    def kill(self, node_id: int) -> None:
        """SIGKILL one node, as a crash would (for chaos tests)."""
        pid = self.pid_of(node_id)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _is_kafka_process(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._pid_file(node_id).unlink(missing_ok=True)

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop every node cleanly (SIGTERM, SIGKILL after `timeout`); False if none ran. The
        recorded ports and the data stay for the next start."""
        nodes = self.nodes() or ()
        pids = [(node.node_id, pid) for node in nodes if (pid := self.pid_of(node.node_id))]
        for _, pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node_id, pid in pids:
            while _is_kafka_process(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            self._pid_file(node_id).unlink(missing_ok=True)
        return bool(pids)

    # -- internals -----------------------------------------------------------------------

    def _choose_ports(self, port: int, controller_port: int) -> tuple[Node, ...]:
        taken: set[int] = set()
        nodes = []
        for index in range(self.brokers):
            if self.brokers == 1:
                wanted = (port, controller_port)
            else:
                wanted = (port + 2 * index if port else 0, port + 2 * index + 1 if port else 0)
            broker = free_port(taken, preferred=wanted[0])
            taken.add(broker)
            controller = free_port(taken, preferred=wanted[1])
            taken.add(controller)
            nodes.append(Node(index + 1, broker, controller))
        self.workdir.mkdir(parents=True, exist_ok=True)
        cluster_id = new_cluster_id()
        self._cluster_file.write_bytes(
            orjson.dumps(
                {
                    "cluster_id": cluster_id,
                    "nodes": [
                        {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port}
                        for n in nodes
                    ],
                },
                option=orjson.OPT_INDENT_2,
            )
        )
        return tuple(nodes)

    def _cluster_id(self) -> str:
        return str(orjson.loads(self._cluster_file.read_bytes())["cluster_id"])

    def _launch(
        self, lib: Path, node: Node, nodes: tuple[Node, ...], cluster_id: str
    ) -> subprocess.Popen[bytes]:
        for wanted in (node.port, node.controller_port):
            if not port_is_free(wanted):
                raise ToolingError(
                    f"port {wanted}, recorded for Kafka node {node.node_id} in "
                    f"{self._cluster_file}, is in use by another process: stop it, or remove "
                    f"{self.workdir} to start a new cluster"
                )
        directory = self._node_dir(node.node_id)
        directory.mkdir(parents=True, exist_ok=True)
        data = directory / "data"
        properties = directory / "server.properties"
        properties.write_text(server_properties(data, node, nodes))
        log4j = directory / "log4j.properties"
        log4j.write_text(log4j_properties(self.log_file(node.node_id)))
        classpath = f"{lib}/*"
        if not (data / "meta.properties").exists():
            format_storage(classpath, log4j, properties, cluster_id)
        with self.log_file(node.node_id).open("ab") as console:
            process = subprocess.Popen(
                [
                    "java",
                    "-Xms256m",
                    "-Xmx1g" if self.brokers == 1 else "-Xmx512m",
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
        self._pid_file(node.node_id).write_text(str(process.pid))
        return process

    def _wait_until_answering(
        self, nodes: tuple[Node, ...], processes: dict[int, subprocess.Popen[bytes]]
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(nodes)
        while waiting:
            for node_id, process in processes.items():
                if process.poll() is not None:
                    self._pid_file(node_id).unlink(missing_ok=True)
                    raise ToolingError(
                        f"Kafka node {node_id} exited with status {process.returncode} while "
                        f"starting; see {self.log_file(node_id)}:\n{self._log_tail(node_id)}"
                    )
            waiting = [node for node in waiting if not asyncio.run(broker_answers(node.address))]
            if not waiting and self._all_registered(nodes):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ToolingError(
                    f"Kafka did not answer within {START_TIMEOUT:.0f} s; "
                    f"see {self.log_file(waiting[0].node_id)}"
                )
            time.sleep(0.2)

    def _all_registered(self, started: tuple[Node, ...]) -> bool:
        """True once the metadata of each node just started lists every node running."""
        running = sum(1 for node in self.nodes() or started if self.pid_of(node.node_id))
        return all(asyncio.run(_registered(node.address)) >= running for node in started)

    def _log_tail(self, node_id: int, lines: int = 20) -> str:
        try:
            text = self.log_file(node_id).read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


async def broker_answers(bootstrap: str) -> bool:
    """True when a Kafka broker at `bootstrap` (one address) answers a metadata request."""
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


async def _registered(bootstrap: str) -> int:
    """How many brokers the cluster's metadata lists (a started node registers a moment
    after it answers)."""
    try:
        async with clients.admin(bootstrap, request_timeout_ms=3000) as admin:
            return len((await admin.describe_cluster())["brokers"])
    except GridhookError:
        return 0


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


def dev_broker(home: Path, brokers: int = 1) -> EmbeddedKafka:
    """The cluster `gridhook kafka start` (and `make run`) use: `<home>/kafka/dev` for one
    broker, `<home>/kafka/dev-<n>` for more."""
    directory = home / "kafka" / ("dev" if brokers == 1 else f"dev-{brokers}")
    return EmbeddedKafka(home, directory, brokers)


def running_dev_cluster(home: Path) -> EmbeddedKafka | None:
    """The dev cluster that runs, whatever its size, or None."""
    base = home / "kafka"
    candidates = [dev_broker(home)]
    if base.exists():
        for path in sorted(base.glob("dev-*")):
            size = path.name.removeprefix("dev-")
            if size.isdigit():
                candidates.append(dev_broker(home, int(size)))
    return next((cluster for cluster in candidates if cluster.state() is not None), None)


def bootstrap_servers(configured: str | None, home: Path) -> str:
    """`KAFKA_BOOTSTRAP_SERVERS` when set, else the running dev cluster's address."""
    if configured:
        return configured
    cluster = running_dev_cluster(home)
    state = None if cluster is None else cluster.state()
    if state is None:
        raise ToolingError(
            "no Kafka broker: start one with `gridhook kafka start` (or `make run`), "
            "or set KAFKA_BOOTSTRAP_SERVERS"
        )
    return state.bootstrap
