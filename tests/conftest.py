"""Shared fixtures. The session's Kafka broker is started on first use and stopped at the end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gridhook.contract.settings import KafkaSettings, Settings
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.kafka.provision import ensure_topics
from gridhook.state.store import Store
from tests.support.postgres import HOW_TO_ENABLE, fresh_database, postgres_server
from tests.support.postgres import available as postgres_available


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session (see tests/postgres.py)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty, migrated store on each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = await fresh_database(request.getfixturevalue("postgres_url"))
    opened = Store(url, writer=True)
    await opened.migrate()
    yield opened
    await opened.close()


_POSTGRES_NOTE = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without any PostgreSQL, its cases are deselected (not skipped) and the summary says how
    to enable them; CI installs PostgreSQL, so there they always run."""
    if postgres_available():
        return
    kept = [item for item in items if "postgres" not in item.keywords]
    deselected = [item for item in items if "postgres" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
        config.stash[_POSTGRES_NOTE] = (
            f"{len(deselected)} PostgreSQL cases not run: {HOW_TO_ENABLE}"
        )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    note = config.stash.get(_POSTGRES_NOTE, None)
    if note:
        terminalreporter.write_line(note, yellow=True)
