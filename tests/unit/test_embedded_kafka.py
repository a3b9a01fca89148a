"""The embedded broker manager's decisions that need no broker."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from gridhook.contract.errors import ToolingError
from gridhook.kafka import embedded
from gridhook.kafka.embedded import EmbeddedKafka, _free_port, bootstrap_servers


def test_taken_port_is_replaced_by_a_free_one() -> None:
    """When the preferred port is in use, another free port is chosen."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        chosen = _free_port(taken)
        assert chosen != taken
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", chosen))


def test_missing_java_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Java on PATH, fetching says so and points at KAFKA_BOOTSTRAP_SERVERS."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolingError, match="Java") as raised:
        embedded.ensure_jars(tmp_path)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(raised.value)


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Java but no Maven, the error names Maven."""
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None)
    with pytest.raises(ToolingError, match="Maven"):
        embedded.ensure_jars(tmp_path)


def test_no_broker_and_no_setting_says_how_to_get_one(tmp_path: Path) -> None:
    """Commands that need Kafka explain how to start one."""
    with pytest.raises(ToolingError, match="gridhook kafka start"):
        bootstrap_servers(None, tmp_path)
    assert bootstrap_servers("broker:9092", tmp_path) == "broker:9092"


def test_stale_state_file_means_not_running(tmp_path: Path) -> None:
    """A broker.json whose pid is not a Kafka process is treated as stopped."""
    broker = EmbeddedKafka(tmp_path, tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "broker.json").write_text('{"pid": 1, "port": 9, "controller_port": 10}')
    assert broker.state() is None
    assert broker.stop() is False
