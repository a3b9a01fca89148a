"""Reference servers for the ingress benchmark.

- `noop`: a bare aiohttp handler answering 204: the HTTP ceiling on this machine.
- `send`: a bare aiohttp handler that only does `send_and_wait` of the body to Kafka with
  `acks=all`: what a user writes in an afternoon.
- `send-idempotent`: the same with the idempotent producer, as gridhook's (the figure the
  ingress is held to).

Both run on uvloop like the ingress. Usage: python -m bench.reference_servers MODE PORT [BOOTSTRAP]
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator

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


def app(mode: str, bootstrap: str | None) -> web.Application:
    application = web.Application()
    if mode == "noop":
        application.router.add_post("/webhooks/light", noop)
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
