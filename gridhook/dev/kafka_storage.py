"""What one KRaft node of the embedded cluster is started from: its `server.properties`, its
log4j configuration, and its storage formatted with the cluster's id."""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from gridhook.contract.errors import ToolingError


@dataclass(frozen=True)
class Node:
    """One node of a cluster: its id and the ports recorded for it."""

    node_id: int
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka makes them: a URL-safe base64 UUID that does not start with
    `-` (the storage tool would read it as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(classpath: str, log4j: Path, properties: Path, cluster_id: str) -> None:
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


def server_properties(data: Path, node: Node, nodes: tuple[Node, ...]) -> str:
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    internal_rf = min(3, len(nodes))
    return f"""\
process.roles=broker,controller
node.id={node.node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor={internal_rf}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={internal_rf}
transaction.state.log.min.isr={max(1, internal_rf - 1)}
group.initial.rebalance.delay.ms=0
message.max.bytes=2097152
replica.lag.time.max.ms=10000
"""


def log4j_properties(log_file: Path) -> str:
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
