"""Prometheus metrics of the ingress, in a registry owned by one app (tests build many apps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MAX_CACHED_CHILDREN = 10_000


@dataclass
class IngressMetrics:
    """Requests by source, event type and status; unknown event types; publish latency."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "gridhook_requests",
            "Webhook requests answered, by source, event type and HTTP status.",
            ["source", "event_type", "status"],
            registry=self.registry,
        )
        self.unknown_event_types = Counter(
            "gridhook_unknown_event_types",
            "Accepted events whose type has no schema yet (published with their type).",
            ["source", "event_type"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "gridhook_duplicates",
            "Deliveries answered 2xx without publishing, because the id was already accepted.",
            ["source"],
            registry=self.registry,
        )
        self.publishes_in_flight = Gauge(
            "gridhook_publishes_in_flight",
            "Webhooks handed to Kafka and not yet acknowledged (nor timed out).",
            registry=self.registry,
        )
        self.shed = Counter(
            "gridhook_shed_requests",
            "Requests answered 503 at once: GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT awaited Kafka.",
            ["source"],
            registry=self.registry,
        )
        self.tenant_requests = Counter(
            "gridhook_tenant_requests",
            "Requests by tenant (the tenants file's ids: a bounded set), before any check.",
            ["tenant"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gridhook_rate_limited",
            "Requests answered 429 because their tenant was past its rate and burst.",
            ["tenant"],
            registry=self.registry,
        )
        self.meter_reads = Counter(
            "gridhook_meter_reads",
            "Meter reads the head-end forwarded, by outcome: accepted, or dead_lettered (their "
            "device is not the one bound to their meter).",
            ["outcome"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "gridhook_publish_seconds",
            "Time from handing a record to Kafka to its acknowledgement.",
            ["topic"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: the per-request path reuses the child."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            if len(self._children) < MAX_CACHED_CHILDREN:  # labels a client chose stay uncached
                self._children[key] = found
        return found
