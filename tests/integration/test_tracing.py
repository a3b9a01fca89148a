"""One trace from a PowerBox bind request to the head-end, across real processes.

Every process exports its spans with OTLP over HTTP to a receiver in the test (set through
OTEL_EXPORTER_OTLP_ENDPOINT, as an operator would point them at a collector), which decodes
them; the test then follows the parent-child chain.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gridhook.contract.identifiers import hem_profile_id
from tests.support.bind_stack import GOOD_CODE, NO_FAULTS, bind_stack
from tests.support.processes import free_port
from tests.support.waiting import eventually

SERVER, CLIENT, CONSUMER = 2, 3, 5  # OTLP's SpanKind numbers


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str


@contextlib.asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, list[ReceivedSpan]]]:
    """An OTLP/HTTP trace endpoint on a free port, and the spans it has received."""
    received: list[ReceivedSpan] = []

    async def traces(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    received.append(
                        ReceivedSpan(
                            service,
                            span.name,
                            span.kind,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                        )
                    )
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


async def test_one_trace_spans_the_ingress_the_forwarder_and_the_head_end_call(
    kafka: str, tmp_path: Path
) -> None:
    """A bind sent with a traceparent: the ingress's server span is its child, the forwarder's
    span the ingress's child, the forwarder's call to the head-end the forwarder's child, the
    emulator's span that call's child, and the state applier applies the bind result in the
    same trace."""
    async with otlp_receiver() as (endpoint, spans):
        tracing_environment = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        async with bind_stack(
            kafka, tmp_path, NO_FAULTS | tracing_environment, forwarder=True
        ) as stack:
            meter = f"m-{uuid.uuid4().hex[:8]}"
            client_id = await stack.sync([meter])
            trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
            body = {
                "hemProfileId": hem_profile_id(client_id),
                "macAddress": "00:1B:44:11:3A:B7:00:01",
                "installCode": GOOD_CODE,
                "meterId": meter,
                "actionCode": 1,
            }
            headers = stack.headers() | {"traceparent": f"00-{trace_id}-{caller}-01"}
            url = f"{stack.base}/v1/powerbox/bind"
            async with stack.session.post(url, data=orjson.dumps(body), headers=headers) as r:
                assert r.status == 200
            await stack.wait_for_state(meter, "bound")

            def chain() -> dict[str, ReceivedSpan]:
                ours = [span for span in spans if span.trace_id == trace_id]
                by_id = {span.span_id: span for span in ours}

                def child_of(parent: str, service: str, kind: int) -> ReceivedSpan | None:
                    return next(
                        (
                            s
                            for s in ours
                            if s.parent_id == parent and s.service == service and s.kind == kind
                        ),
                        None,
                    )

                ingress = child_of(caller, "gridhook-ingress", SERVER)
                if ingress is None:
                    return {}
                forwarder = next(
                    (
                        s
                        for s in ours
                        if s.parent_id == ingress.span_id
                        and s.service == "gridhook-consume-bind"
                        and s.name == "bind forwarder bind"
                    ),
                    None,
                )
                if forwarder is None:
                    return {}
                call = child_of(forwarder.span_id, "gridhook-consume-bind", CLIENT)
                if call is None:
                    return {}
                head_end = child_of(call.span_id, "gridhook-emulator", SERVER)
                applied = next(
                    (
                        s
                        for s in ours
                        if s.service == "gridhook-consume-state"
                        and s.name == "apply powerbox.bind.results"
                        and by_id.get(s.parent_id) is forwarder
                    ),
                    None,
                )
                if head_end is None or applied is None:
                    return {}
                return {"ingress": ingress, "forwarder": forwarder, "call": call}

            found: dict[str, ReceivedSpan] = await eventually(
                chain, 30, "the whole trace at the receiver"
            )
    assert found["ingress"].name == "POST /v1/powerbox/bind"
    assert found["call"].name.startswith("head-end ")
