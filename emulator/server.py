"""What the three emulators share as aiohttp apps: their state and workers started and stopped
by one cleanup context, and serving until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import uvloop
from aiohttp import web

from emulator.sqlite import SqliteState

log = logging.getLogger("gridhook.emulator")

State = TypeVar("State", bound=SqliteState)

STOP_SECONDS = 2.0
"""How long requests in flight get to finish at shutdown: an emulator holds no client's work."""


class Worker(Protocol):
    """Something an emulator runs beside its routes (a webhook deliverer, a HAN joiner)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def lifecycle(
    state: web.AppKey[State], *workers: web.AppKey[Any]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context: open the state, then start the workers; stop them in reverse, then
    close the state."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        await app[state].open()
        running: list[Worker] = [app[worker] for worker in workers]
        for worker in running:
            await worker.start()
        yield
        for worker in reversed(running):
            await worker.stop()
        await app[state].close()

    return context


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the emulator serves."""
    return web.json_response({"status": "ok"})


def serve(app: web.Application, host: str, port: int, name: str) -> int:
    """Serve `app` on `host:port` until SIGTERM/SIGINT; return the exit status."""
    log.info(f"{name} listening", extra={"fields": {"address": f"http://{host}:{port}"}})
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=STOP_SECONDS,
        loop=uvloop.new_event_loop(),
    )
    return 0
