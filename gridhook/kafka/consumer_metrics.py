"""Prometheus metrics of one consumer group's member, counted by the consumer runtime.

A process adds its own gauges through `ConsumerMetrics.registry` (the forwarder's pending
binds) and serves the registry on `GET /metrics` (`consumers.metrics_server`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class ConsumerMetrics:
    """What one consumer group's member did, labelled by `group` (and topic, partition)."""

    group: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["group", "topic"]
        self.records = Counter(
            "gridhook_consumer_records",
            "Records read and handled (applied, duplicate or dead-lettered).",
            labels,
            registry=self.registry,
        )
        self.applied = Counter(
            "gridhook_consumer_applied",
            "Records whose effects the handler applied.",
            ["group"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "gridhook_consumer_duplicates",
            "Records the handler had already applied (redeliveries, replays).",
            ["group"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "gridhook_consumer_dead_letters",
            "Records sent to <topic>.dlq, by the topic they were read from.",
            labels,
            registry=self.registry,
        )
        self.retries = Counter(
            "gridhook_consumer_retries",
            "Batches retried after a passing failure (database locked, Kafka unreachable).",
            ["group"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "gridhook_consumer_batch_seconds",
            "Time to handle and commit one batch.",
            ["group"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.lag = Gauge(
            "gridhook_consumer_lag",
            "Records behind the partition's end, after the last batch handled.",
            ["group", "topic", "partition"],
            registry=self.registry,
        )

    def handled(
        self, records: dict[str, int], applied: int, duplicates: int, dead: dict[str, int]
    ) -> None:
        """Count one batch: records read and dead-lettered per topic, applied, duplicates."""
        for topic, count in records.items():
            self.records.labels(self.group, topic).inc(count)
        for topic, count in dead.items():
            self.dead_letters.labels(self.group, topic).inc(count)
        self.applied.labels(self.group).inc(applied)
        self.duplicates.labels(self.group).inc(duplicates)

    def behind(self, topic: str, partition: int, lag: int) -> None:
        self.lag.labels(self.group, topic, str(partition)).set(max(lag, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Stop reporting a partition this member no longer holds."""
        with contextlib.suppress(KeyError):
            self.lag.remove(self.group, topic, str(partition))
