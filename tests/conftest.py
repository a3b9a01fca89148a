"""Shared fixtures. The session's Kafka broker is started on first use and stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridhook.embedded_kafka import EmbeddedKafka
from gridhook.settings import KafkaSettings, Settings
from producers.provision import ensure_topics


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings from a clean environment (only KAFKA_BOOTSTRAP_SERVERS passes through)."""
    environ = {}
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        environ["KAFKA_BOOTSTRAP_SERVERS"] = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    return Settings.from_env(environ)


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka broker: KAFKA_BOOTSTRAP_SERVERS, or a fresh embedded one on free ports."""
    if settings.kafka.bootstrap_servers:
        yield settings.kafka.bootstrap_servers
        return
    broker = EmbeddedKafka(settings.home, Path(tmp_path_factory.mktemp("kafka")))
    try:
        yield broker.start(port=0, controller_port=0)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
async def kafka(kafka_bootstrap: str, settings: Settings) -> str:
    """The broker's bootstrap address, with every catalogue topic provisioned."""
    await ensure_topics(kafka_bootstrap, settings.kafka.replication_factor)
    return kafka_bootstrap


@pytest.fixture(scope="session")
def kafka_settings(settings: Settings) -> KafkaSettings:
    return settings.kafka
