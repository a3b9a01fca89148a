"""What the three emulators share as aiohttp apps: their state and workers started and stopped
by one cleanup context, and serving until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from aiohttp import web

from emulator.sqlite import SqliteState
from gridhook.contract import running
from gridhook.contract.answers import health, json_response

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
    return json_response(health())


def serve(build: Callable[[], web.Application], host: str, port: int, name: str) -> int:
    """Serve the app `build()` makes on `host:port` until SIGTERM/SIGINT; the exit status."""
    return running.serve(build, name=name, host=host, port=port, shutdown_timeout=STOP_SECONDS)
