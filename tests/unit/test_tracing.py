"""Trace context through the ingress and onto the record, with the in-memory span exporter."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gridhook.contract import tracing
from gridhook.contract.codec import header
from gridhook.contract.settings import Settings
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import SECRET, light_event, signed

NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracing.add_exporter(exporter)
    return exporter


async def _post(aiohttp_client: Any, publisher: InMemoryPublisher, extra: dict[str, str]) -> None:
    settings = Settings.from_env(
        {"GRIDHOOK_LIGHT_SECRETS": SECRET, "GRIDHOOK_DATABASE_URL": "sqlite:///:memory:"}
    )
    client = await aiohttp_client(ingress_app(settings, publisher))
    raw, headers = signed(light_event("account.created"), now=NOW)
    response = await client.post("/webhooks/light", data=raw, headers=headers | extra)
    assert response.status == 200


async def test_the_callers_trace_goes_on_the_record_through_the_ingress_span(
    aiohttp_client: Any, exporter: InMemorySpanExporter
) -> None:
    """The ingress's server span is the child of the request's traceparent, and the record's
    ce_traceparent names that span, in the same trace."""
    exporter.clear()
    publisher = InMemoryPublisher()
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    await _post(aiohttp_client, publisher, {"traceparent": f"00-{trace_id}-{caller}-01"})
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "POST /webhooks/light"]
    assert f"{span.context.trace_id:032x}" == trace_id
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == caller
    ((_, record),) = publisher.records
    traceparent = header(record.headers, tracing.TRACEPARENT)
    assert traceparent == f"00-{trace_id}-{span.context.span_id:016x}-01".encode()


async def test_a_request_without_a_traceparent_starts_a_trace(
    aiohttp_client: Any, exporter: InMemorySpanExporter
) -> None:
    """No traceparent: the ingress's span is a root, and the record still carries its context,
    so the consumers continue one trace."""
    exporter.clear()
    publisher = InMemoryPublisher()
    await _post(aiohttp_client, publisher, {})
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "POST /webhooks/light"]
    assert span.parent is None
    context = tracing.from_record(publisher.records[0][1].headers)
    assert context is not None
    ((_, record),) = publisher.records
    assert f"{span.context.trace_id:032x}".encode() in (
        header(record.headers, "ce_traceparent") or b""
    )


def test_without_recording_a_valid_traceparent_passes_through_and_others_start_a_trace() -> None:
    """A well-formed traceparent (and its tracestate) goes onto the record as it came; a
    missing, malformed or all-zero one is replaced by a new trace's root."""
    parent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    assert tracing.passed_through({"traceparent": parent, "tracestate": "a=1"}) == [
        (tracing.TRACEPARENT, parent.encode()),
        (tracing.TRACESTATE, b"a=1"),
    ]
    for bad in ("", "garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", parent.upper()):
        ((name, raw),) = tracing.passed_through({"traceparent": bad})
        assert name == tracing.TRACEPARENT
        assert raw != bad.encode()
        assert tracing.passed_through({"traceparent": raw.decode()}) == [(name, raw)]
