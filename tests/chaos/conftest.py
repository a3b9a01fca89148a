"""The three-broker cluster the chaos tests share, and the summary table they print."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gridhook.contract.settings import Settings
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.kafka.provision import ensure_topics

ROWS = pytest.StashKey[list[dict[str, Any]]]()
SUMMARY = Path(__file__).resolve().parents[2] / ".gridhook" / "chaos" / "latest.json"


@pytest.fixture(scope="session")
def cluster(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedKafka]:
    """Three KRaft nodes on loopback, with every catalogue topic (replication factor 3,
    min.insync.replicas 2)."""
    cluster = EmbeddedKafka(settings.home, Path(tmp_path_factory.mktemp("cluster")), brokers=3)
    try:
        bootstrap = cluster.start(port=0, controller_port=0)
        durability = asyncio.run(ensure_topics(bootstrap, 3)).durability
        assert (durability.replication_factor, durability.min_insync_replicas) == (3, 2)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def summary(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Rows of the summary table: append one per scenario."""
    config = request.config
    if ROWS not in config.stash:
        config.stash[ROWS] = []
    return config.stash[ROWS]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = config.stash.get(ROWS, [])
    if not rows:
        return
    columns = ["scenario", "load", "kills", "acknowledged", "lost", "duplicated"]
    widths = {c: max(len(c), *(len(str(row[c])) for row in rows)) for c in columns}
    terminalreporter.write_sep("=", "chaos summary")
    terminalreporter.write_line("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        terminalreporter.write_line("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    terminalreporter.write_line(f"(also in {SUMMARY})")
