"""W3C trace context through HTTP and Kafka, with OpenTelemetry.

One trace follows a webhook from the ingress to the head-end: the ingress continues the caller's
`traceparent` (or starts a trace) and writes it on the record as the CloudEvents distributed
tracing extension (`ce_traceparent`, `ce_tracestate`); the state applier and the bind forwarder
continue it from the record; every outbound HTTP call carries it as `traceparent`; the
emulators continue it from there.

`configure(service)` installs the SDK's tracer provider, exporting with OTLP over HTTP, when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set (the SDK reads the other OTEL_* variables itself). Without
it no span is recorded, and the context still travels: OpenTelemetry's API passes the parent's
ids through, and the ingress starts a trace itself when a request brings none. Recording spans
costs the ingress about a quarter of its CPU per request (bench/README.md), so it is opt-in.
Tests add an in-memory exporter with `add_exporter`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:  # the SDK is imported only by a process that records spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACEPARENT = "ce_traceparent"
TRACESTATE = "ce_tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None

SERVER, CLIENT, CONSUMER = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.CONSUMER


def configure(service: str) -> None:
    """Record and export spans as `service` when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        _recording(service).add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))


def add_exporter(exporter: SpanExporter) -> None:
    """Record spans and send each to `exporter` as it ends (for tests)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    _recording("gridhook").add_span_processor(SimpleSpanProcessor(exporter))


def _recording(service: str) -> TracerProvider:
    global _provider
    if _provider is None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        trace.set_tracer_provider(_provider)
    return _provider


def recording() -> bool:
    """Whether this process records spans (else it only passes trace context on)."""
    return _provider is not None


def tracer() -> trace.Tracer:
    return trace.get_tracer("gridhook")


def from_http(headers: Mapping[str, str]) -> context.Context:
    """The context of an incoming request's `traceparent`/`tracestate` (empty if none)."""
    carrier = {name: headers[name] for name in ("traceparent", "tracestate") if name in headers}
    return _PROPAGATOR.extract(carrier)


_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


def passed_through(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """The record headers carrying a request's trace when no span is recorded: its valid
    `traceparent` (and `tracestate`) as they came, or else a new trace's root."""
    parent = headers.get("traceparent", "")
    if not _TRACEPARENT.fullmatch(parent):
        root = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
        return [(TRACEPARENT, root.encode())]
    carried = [(TRACEPARENT, parent.encode())]
    state = headers.get("tracestate")
    if state:
        carried.append((TRACESTATE, state.encode()))
    return carried


def to_http() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span, for an outbound request."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def from_record(headers: Iterable[tuple[str, bytes]]) -> context.Context | None:
    """The context a record carries in `ce_traceparent`, or None when it carries none."""
    carrier = {}
    for name, raw in headers:
        if name == TRACEPARENT:
            carrier["traceparent"] = raw.decode(errors="replace")
        elif name == TRACESTATE:
            carrier["tracestate"] = raw.decode(errors="replace")
    if "traceparent" not in carrier:
        return None
    return _PROPAGATOR.extract(carrier)


def record_headers(span: Span | None = None) -> list[tuple[str, bytes]]:
    """The CloudEvents tracing extension for `span` (default: the current one)."""
    carrier: dict[str, str] = {}
    where = trace.set_span_in_context(span) if span is not None else None
    _PROPAGATOR.inject(carrier, context=where)
    headers = [(TRACEPARENT, carrier["traceparent"].encode())] if "traceparent" in carrier else []
    if "tracestate" in carrier:
        headers.append((TRACESTATE, carrier["tracestate"].encode()))
    return headers
