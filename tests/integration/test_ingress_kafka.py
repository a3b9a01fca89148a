"""The real ingress process publishing to the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

from gridhook.contract.codec import decode
from gridhook.contract.event_types import LIGHT_EVENT_TYPES
from tests.support.kafka import end_offsets, read_records
from tests.support.light_payloads import SECRET, light_event, signed
from tests.support.processes import free_port, gridhook_process, http_ok
from tests.support.waiting import eventually


async def test_every_light_event_type_reaches_kafka_byte_for_byte(
    kafka: str, tmp_path: Path
) -> None:
    """One signed webhook per known type: each record has the account key, raw body, CE headers."""
    port = free_port()
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_LOG_FORMAT": "json",
    }
    since = await end_offsets(kafka, "light.events")
    sent: dict[str, tuple[bytes, str, str]] = {}
    async with gridhook_process(["ingress"], environment, tmp_path / "ingress.log") as process:
        base = f"http://127.0.0.1:{port}"
        await eventually(lambda: http_ok(f"{base}/readyz"), 30, "the ingress to be ready")
        async with aiohttp.ClientSession() as session:
            for event_type in LIGHT_EVENT_TYPES:
                account = f"acct-{event_type}"
                body, headers = signed(light_event(event_type, account), now=time.time())
                url = f"{base}/webhooks/light"
                async with session.post(url, data=body, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    sent[headers["webhook-id"]] = (body, event_type, account)
    assert process.returncode == 0
    records = await read_records(kafka, "light.events", since, until=lambda rs: len(rs) >= 11)
    received = {}
    for record in records:
        event = decode(record.key, record.value, record.headers)
        received[event.id] = (record.value, event.type, record.key.decode())
        assert event.source == "light"
    assert received == sent
    summary = [
        orjson.loads(line)
        for line in (tmp_path / "ingress.log").read_bytes().splitlines()
        if b"ingress stopped" in line
    ]
    assert len(summary) == 1
    assert summary[0]["requests"] == 11


async def test_several_ingress_workers_share_the_port_and_stop_together(
    kafka: str, tmp_path: Path
) -> None:
    """GRIDHOOK_INGRESS_WORKERS=2: both workers serve one port; SIGTERM stops both cleanly and
    each logs its summary line."""
    port = free_port()
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_INGRESS_WORKERS": "2",
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "GRIDHOOK_LOG_FORMAT": "json",
    }
    log = tmp_path / "ingress.log"
    async with gridhook_process(["ingress"], environment, log) as process:
        base = f"http://127.0.0.1:{port}"

        async def both_connected() -> bool:
            return log.read_bytes().count(b"kafka producer connected") >= 2

        # Connecting happens during start-up, listening after it: wait for both.
        await eventually(both_connected, 60, "both workers to connect to Kafka")
        await eventually(lambda: http_ok(f"{base}/readyz"), 30, "a worker to listen")
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                body, headers = signed(light_event("enrollment.finalized"), now=time.time())

                async def accepted(body: bytes = body, headers: dict[str, str] = headers) -> bool:
                    # A worker still connecting to Kafka answers 503; partners retry that.
                    url = f"{base}/webhooks/light"
                    async with session.post(url, data=body, headers=headers) as response:
                        assert response.status in (200, 503)
                        return response.status == 200

                await eventually(accepted, 30, "a worker to accept the webhook")
    assert process.returncode == 0
    summaries = [
        orjson.loads(line) for line in log.read_bytes().splitlines() if b"ingress stopped" in line
    ]
    assert len(summaries) == 2
    assert sum(summary.get("status_200", 0) for summary in summaries) == 20


async def _raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read(65536)
    writer.close()
    return answer


async def test_a_malformed_request_leaves_no_request_byte_in_the_log(
    kafka: str, tmp_path: Path
) -> None:
    """Over-long Authorization and webhook-signature headers, and a header with a byte HTTP
    forbids, each carrying a marker: 400, one warning line per request with the client address
    and the error class; the marker is neither in the log nor in the answer."""
    port = free_port()
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_LOG_FORMAT": "json",
    }
    marker = f"MARKER{uuid.uuid4().hex}"
    long_value = marker + "A" * 9000
    requests = [
        f"POST /v1/powerbox/bind HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {long_value}\r\n"
        "Content-Length: 2\r\n\r\n{}",
        f"POST /webhooks/light HTTP/1.1\r\nHost: x\r\nwebhook-signature: v1,{long_value}\r\n"
        "Content-Length: 2\r\n\r\n{}",
        f"POST /webhooks/light HTTP/1.1\r\nHost: x\r\nwebhook-id: {marker}\x01\r\n"
        "Content-Length: 2\r\n\r\n{}",
    ]
    log = tmp_path / "ingress.log"
    async with gridhook_process(["ingress"], environment, log):
        await eventually(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), 30, "the ingress")
        for request in requests:
            answer = await _raw_request(port, request.encode())
            assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer[:80]
            assert marker.encode() not in answer
    lines = log.read_bytes().splitlines()
    assert not [line for line in lines if marker.encode() in line]
    warnings = [orjson.loads(line) for line in lines if b"malformed request" in line]
    assert len(warnings) == len(requests)
    assert {warning["level"] for warning in warnings} == {"warning"}
    assert all(warning["client"] == "127.0.0.1" and warning["error"] for warning in warnings)
