"""Shutdown is bounded whatever Kafka does."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from gridhook.contract.settings import Settings
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.kafka.provision import ensure_topics
from tests.support.light_payloads import SECRET, light_event, signed
from tests.support.processes import free_port, gridhook_process, http_ok
from tests.support.waiting import eventually

STOP_BOUND = 25.0


async def test_the_ingress_exits_in_bounded_time_when_kafka_is_gone(
    settings: Settings, tmp_path: Path
) -> None:
    """Its broker SIGKILLed, a webhook in flight: SIGTERM answers that webhook 503, closes and
    exits, within a bound, instead of waiting for a broker that will not answer."""
    broker = EmbeddedKafka(settings.home, tmp_path / "kafka")
    bootstrap = await asyncio.to_thread(broker.start, 0, 0)
    try:
        await ensure_topics(bootstrap)
        port = free_port()
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "GRIDHOOK_HTTP_PORT": str(port),
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "GRIDHOOK_LOG_FORMAT": "json",
        }
        base = f"http://127.0.0.1:{port}"
        async with (
            gridhook_process(["ingress"], environment, tmp_path / "ingress.log") as ingress,
            aiohttp.ClientSession() as session,
        ):
            await eventually(lambda: http_ok(f"{base}/readyz"), 30, "the ingress")
            body, headers = signed(light_event("enrollment.finalized"), now=time.time())
            async with session.post(f"{base}/webhooks/light", data=body, headers=headers) as r:
                assert r.status == 200
            await asyncio.to_thread(broker.kill, 1)
            body, headers = signed(light_event("enrollment.finalized"), now=time.time())
            in_flight = asyncio.create_task(
                session.post(f"{base}/webhooks/light", data=body, headers=headers)
            )

            async def waiting_for_kafka() -> bool:
                async with session.get(f"{base}/metrics") as metrics:
                    return "gridhook_publishes_in_flight 1.0" in await metrics.text()

            await eventually(waiting_for_kafka, 10, "the webhook to wait for Kafka")
            ingress.send_signal(signal.SIGTERM)
            answer = await in_flight
            assert answer.status == 503
            try:
                code = await asyncio.to_thread(ingress.wait, STOP_BOUND)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"the ingress still ran {STOP_BOUND} s after SIGTERM"
                ) from None
            assert code == 0
    finally:
        await asyncio.to_thread(broker.stop)
