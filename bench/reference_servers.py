"""Reference servers for the ingress benchmark.

- `noop`: a bare aiohttp handler answering 204: the HTTP ceiling on this machine.
- `send`: a bare aiohttp handler that only does `send_and_wait` of the body to Kafka with
  `acks=all`: what a user writes in an afternoon.
- `send-idempotent`: the same with the idempotent producer, as gridhook's (the figure the
  ingress is held to).
- `send-confluent`: the idempotent handler with confluent-kafka (librdkafka) instead of aiokafka,
  to show whether the producer library is the bound.

All run on uvloop like the ingress. Usage: python -m bench.reference_servers MODE PORT [BOOTSTRAP]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvloop
from aiohttp import web
from aiokafka import AIOKafkaProducer

PRODUCER = web.AppKey("producer", AIOKafkaProducer)
REFERENCE_TOPIC = "bench.reference"  # not a gridhook topic: no consumer reads it


async def noop(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


async def send(request: web.Request) -> web.Response:
    body = await request.read()
    await request.app[PRODUCER].send_and_wait(REFERENCE_TOPIC, body, key=uuid.uuid4().bytes)
    return web.Response(status=204)


class ConfluentProducer:
    """confluent-kafka's producer with its delivery reports resolved on the event loop."""

    def __init__(self, bootstrap: str | None) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap or "127.0.0.1:9092",
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
            }
        )
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.1)

    async def send(self, topic: str, value: bytes, key: bytes) -> None:
        done: asyncio.Future[None] = self._loop.create_future()

        def report(error: Any, message: Any) -> None:
            self._loop.call_soon_threadsafe(_settle, done, error)

        self._producer.produce(topic, value, key, on_delivery=report)
        await done

    def close(self) -> None:
        self._running = False
        self._poller.join()
        self._producer.flush(5)


def _settle(done: asyncio.Future[None], error: Any) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(RuntimeError(str(error)))


CONFLUENT = web.AppKey("confluent", ConfluentProducer)


async def send_confluent(request: web.Request) -> web.Response:
    body = await request.read()
    await request.app[CONFLUENT].send(REFERENCE_TOPIC, body, key=uuid.uuid4().bytes)
    return web.Response(status=204)


def app(mode: str, bootstrap: str | None) -> web.Application:
    application = web.Application()
    if mode == "noop":
        application.router.add_post("/webhooks/light", noop)
        return application
    if mode == "send-confluent":

        async def confluent(app: web.Application) -> AsyncIterator[None]:
            app[CONFLUENT] = ConfluentProducer(bootstrap)
            yield
            app[CONFLUENT].close()

        application.cleanup_ctx.append(confluent)
        application.router.add_post("/webhooks/light", send_confluent)
        return application

    async def producer(app: web.Application) -> AsyncIterator[None]:
        kafka = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=mode == "send-idempotent"
        )
        await kafka.start()
        app[PRODUCER] = kafka
        yield
        await kafka.stop()

    application.cleanup_ctx.append(producer)
    application.router.add_post("/webhooks/light", send)
    return application


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    bootstrap = sys.argv[3] if len(sys.argv) > 3 else None
    web.run_app(
        app(mode, bootstrap),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )
