"""The embedded broker manager's decisions that need no broker."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from gridhook.contract.errors import ToolingError
from gridhook.dev import kafka_jars
from gridhook.dev.embedded_kafka import EmbeddedKafka, bootstrap_servers
from gridhook.dev.ports import free_port, port_is_free


def test_taken_port_is_replaced_by_a_free_one() -> None:
    """When the preferred port is in use, another free port is chosen."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        chosen = free_port(preferred=taken)
        assert chosen != taken
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", chosen))


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Java on PATH, fetching says so and points at KAFKA_BOOTSTRAP_SERVERS."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolingError, match="Java") as raised:
        kafka_jars.ensure_jars(tmp_path)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(raised.value)


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Java but no Maven, the error names Maven."""
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None)
    with pytest.raises(ToolingError, match="Maven"):
        kafka_jars.ensure_jars(tmp_path)


def test_no_broker_and_no_setting_says_how_to_get_one(tmp_path: Path) -> None:
    """Commands that need Kafka explain how to start one."""
    with pytest.raises(ToolingError, match="gridhook kafka start"):
        bootstrap_servers(None, tmp_path)
    assert bootstrap_servers("broker:9092", tmp_path) == "broker:9092"


def test_stale_state_file_means_not_running(tmp_path: Path) -> None:
    """A recorded pid that is not a Kafka process is treated as stopped."""
    broker = EmbeddedKafka(tmp_path, tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "cluster.json").write_text(
        '{"cluster_id": "c", "nodes": [{"node_id": 1, "port": 9, "controller_port": 10}]}'
    )
    (tmp_path / "w" / "broker.pid").write_text("1")
    assert broker.state() is None
    assert broker.stop() is False


def test_a_port_held_only_by_time_wait_sockets_is_free() -> None:
    """A broker SIGKILLed under load leaves its port's connections in TIME_WAIT: the port is
    still its own to listen on again (Kafka binds with SO_REUSEADDR)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Java's are
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its side goes to TIME_WAIT
        client.close()
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))  # what the probe once did: the port looked taken
    assert port_is_free(port)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert not port_is_free(port), "a listener holds it"


def test_recorded_ports_are_kept_for_the_next_start(tmp_path: Path) -> None:
    """The first start records the ports it chose; a later start reads them back."""
    cluster = EmbeddedKafka(tmp_path, tmp_path / "c", brokers=3)
    chosen = cluster._choose_ports(0, 0)
    assert cluster.nodes() == chosen
    assert len({port for node in chosen for port in (node.port, node.controller_port)}) == 6


def test_cluster_ids_never_start_with_a_dash() -> None:
    """The storage tool reads a leading `-` as an option: such ids are never made."""
    from gridhook.dev.kafka_storage import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(cluster_id) == 22 for cluster_id in ids)
