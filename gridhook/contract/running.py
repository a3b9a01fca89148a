"""How every gridhook process runs and stops: the first SIGTERM or SIGINT starts a clean stop
(work in hand finished, connections closed, one summary line logged); a repeated signal while
stopping changes nothing, so a clean stop is never cut short halfway (which would leave
database threads running and the summary unsaid).

`serve` runs an aiohttp app that way (the ingress, the console, the emulators); consumers wait
on `stop_requested()` themselves. A process that runs others (`gridhook run`, the ingress's
workers) starts each with `spawn`, and signals each once. `run_batch` runs a command that reads
or writes in bulk (replay, a state rebuild) on the loop and collector settings the processes
use.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop
from aiohttp import web

from gridhook.contract.gc_tuning import tune_garbage_collector

log = logging.getLogger("gridhook.process")

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
BACKLOG = 1024
"""Connections the kernel holds for a server before it accepts them: a burst of new clients
past it has its SYNs dropped and waits out TCP's retransmissions (1, 3, 7... s)."""


def stop_requested() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT this process receives (later ones are only
    noted); call it inside the running event loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def requested(signum: signal.Signals) -> None:
        if stop.is_set():
            log.info("already stopping", extra={"fields": {"signal": signum.name}})
            return
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, requested, signum)
    return stop


def run_batch(main: Coroutine[Any, Any, T]) -> T:
    """`main`'s result, run on uvloop with the collector tuned as a process's is once it is
    built (`tune_garbage_collector`): a replay or a rebuild makes millions of short-lived
    objects, and the default collector took a third of replay's time."""

    async def tuned() -> T:
        tune_garbage_collector()
        return await main

    return uvloop.run(tuned())


def spawn(
    arguments: list[str], environment: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`gridhook <arguments>` as a child process that only its parent signals: in a session of
    its own (a terminal's Ctrl-C reaches the parent alone, which passes one SIGTERM on), and
    told SIGTERM if its parent dies (so no child outlives a killed supervisor)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gridhook.cli", *arguments],
        env=environment,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (nothing elsewhere)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


Summary = Callable[[], dict[str, Any]]
Front = Callable[[web.Application, web.Server], Callable[[], asyncio.Protocol]]
"""Given the app and aiohttp's protocol factory, the protocol factory to listen with."""


def serve(
    build: Callable[[], web.Application],
    *,
    name: str,
    host: str,
    port: int,
    shutdown_timeout: float,
    summary: Summary | None = None,
    reuse_port: bool = False,
    front: Front | None = None,
) -> int:
    """Serve the app `build()` makes (inside the event loop) on `host:port` until SIGTERM or
    SIGINT, then stop cleanly: stop accepting, let requests in flight finish (at most
    `shutdown_timeout` seconds), run the app's cleanup, and log `<name> stopped` with
    `summary()` (by default, the answers given by status class). With `front`, each connection
    is served by the protocol it makes around aiohttp's. Returns the exit status."""
    counts: dict[str, int] = {}

    async def count(request: web.Request, response: web.StreamResponse) -> None:
        status = f"status_{response.status // 100}xx"
        counts[status] = counts.get(status, 0) + 1

    async def main() -> None:
        stop = stop_requested()
        app = build()
        if summary is None:
            app.on_response_prepare.append(count)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
        await runner.setup()
        assert runner.server is not None
        protocols = runner.server if front is None else front(app, runner.server)
        listening: asyncio.Server | None = None
        try:
            listening = await asyncio.get_running_loop().create_server(
                protocols, host, port, reuse_port=reuse_port, backlog=BACKLOG
            )
            log.info(f"{name} listening", extra={"fields": {"address": f"http://{host}:{port}"}})
            tune_garbage_collector()
            await stop.wait()
        finally:
            if listening is not None:
                listening.close()  # stop accepting; the runner then lets requests finish
            await runner.cleanup()
        fields = summary() if summary is not None else {"requests": sum(counts.values()), **counts}
        log.info(f"{name} stopped", extra={"fields": fields})

    uvloop.run(main())
    return 0
