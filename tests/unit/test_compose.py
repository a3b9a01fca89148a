"""The docker compose stack stays consistent with the settings."""

from __future__ import annotations

from typing import Any

import yaml

from gridhook.contract.settings import PROJECT_ROOT, VARIABLES


def _environments(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: dict(service.get("environment") or {})
        for name, service in compose["services"].items()
    }


def test_compose_sets_only_known_gridhook_settings() -> None:
    """Every GRIDHOOK_* variable the compose file sets is one gridhook reads."""
    compose = yaml.safe_load((PROJECT_ROOT / "compose" / "docker-compose.yml").read_text())
    known = {variable.name for variable in VARIABLES}
    used = {
        name
        for environment in _environments(compose).values()
        for name in environment
        if name.startswith("GRIDHOOK_")
    }
    assert used, "the compose file should configure gridhook"
    assert used - known == set()


def test_compose_pins_the_same_kafka_as_the_pom() -> None:
    """The Kafka image tag and the embedded broker's pom name the same version."""
    compose = yaml.safe_load((PROJECT_ROOT / "compose" / "docker-compose.yml").read_text())
    pom = (PROJECT_ROOT / "compose" / "kafka" / "pom.xml").read_text()
    version = compose["services"]["kafka-1"]["image"].rsplit(":", 1)[1]
    assert f"<kafka.version>{version}</kafka.version>" in pom


def test_compose_runs_every_gridhook_process() -> None:
    """The full stack: broker, PostgreSQL, topics, ingress, the three consumers and the three
    emulators."""
    compose = yaml.safe_load((PROJECT_ROOT / "compose" / "docker-compose.yml").read_text())
    commands = {tuple(service.get("command", ())) for service in compose["services"].values()}
    assert {
        ("topics", "ensure"),
        ("ingress",),
        ("consume", "state"),
        ("consume", "bind"),
        ("consume", "installations"),
        ("emulator", "ami"),
        ("emulator", "light"),
        ("emulator", "wattshift"),
    } <= commands
    assert {"kafka-1", "kafka-2", "kafka-3", "postgres"} <= set(compose["services"])


def test_compose_is_the_production_shape() -> None:
    """Three brokers, two replicas of every gridhook process (the emulator aside), topics
    replicated three times."""
    compose = yaml.safe_load((PROJECT_ROOT / "compose" / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("ingress", "state-applier", "bind-forwarder", "installation-orchestrator"):
        assert services[name]["deploy"]["replicas"] == 2, name
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.count("@") == 3
    assert services["ingress"]["environment"]["GRIDHOOK_TOPIC_REPLICATION_FACTOR"] == "3"
