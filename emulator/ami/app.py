"""The AMI head-end / HAN gateway emulator as an aiohttp application.

API (JSON):
- `PUT /v1/requests/{bindId}` `{meterId, macAddress, installCode, action: bind|unbind}`: 202
  with the request's status. Idempotent on the bind id: a known request is answered as it is
  (never joined twice); one that failed transiently (`meter_unreachable`) is attempted again.
- `GET /v1/requests/{bindId}`: `{status: pending|joined|left|failed, reason, transient}`.
- `GET /v1/meters/{meterId}/devices`: the devices on the meter's HAN and how often each was
  ever joined.
- For tests: `PUT /v1/emulator/meters/{meterId}/register` `{delivered, received}` sets a
  meter's registers (raw: near 2^48 to see a rollover); `POST
  /v1/emulator/meters/{meterId}/exchange` exchanges the meter (its registers restart from 0).
- `GET /healthz`.

Each joined device reads its meter and the head-end forwards the reads to gridhook
(`emulator.ami.reads`).

Joining takes a random time: by default as long as a real HAN takes (`emulator.ami.latency`),
or uniformly within `GRIDHOOK_EMULATOR_JOIN_SECONDS`, run `GRIDHOOK_EMULATOR_TIME_SCALE` times
faster than real time. Outcomes: a wrong install code
(length or CRC) fails with `invalid_install_code`, a full HAN with `han_full` (both
permanent); the meter's radio is unreachable at `GRIDHOOK_EMULATOR_UNREACHABLE_RATE`
(transient). API calls fail with 503 at `GRIDHOOK_EMULATOR_ERROR_RATE` and hang at
`GRIDHOOK_EMULATOR_TIMEOUT_RATE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

import orjson
from aiohttp import web

from emulator import server
from emulator.ami.latency import join_delay
from emulator.ami.reads import MeterReader
from emulator.ami.state import FAILED, PENDING, EmulatorState, Request
from emulator.faults import fault_middleware
from emulator.tracing import traced
from gridhook.contract.answers import json_response
from gridhook.contract.install_codes import is_valid
from gridhook.contract.settings import EmulatorSettings, Faults

log = logging.getLogger("gridhook.emulator")

STATE = web.AppKey("state", EmulatorState)
SETTINGS = web.AppKey("emulator_settings", EmulatorSettings)
RANDOM = web.AppKey("random", random.Random)


class Joiner:
    """Completes each pending request when its join time has come."""

    def __init__(self, state: EmulatorState, settings: EmulatorSettings, rng: random.Random):
        self._state = state
        self._settings = settings
        self._random = rng
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    def latency(self) -> float:
        settings = self._settings
        return join_delay(self._random, settings.join_seconds, settings.time_scale)

    def schedule(self, request: Request) -> None:
        if request.bind_id not in self._tasks and request.status == PENDING:
            task = asyncio.create_task(self._complete(request.bind_id, request.due_at))
            self._tasks[request.bind_id] = task
            task.add_done_callback(lambda _: self._tasks.pop(request.bind_id, None))

    async def start(self) -> None:
        """Go on with the joins pending when the emulator stopped."""
        for request in await self._state.pending():
            self.schedule(request)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _complete(self, bind_id: str, due_at: float) -> None:
        await asyncio.sleep(max(0.0, due_at - time.time()))
        async with self._lock:
            request = await self._state.request(bind_id)
            if request is None or request.status != PENDING:
                return
            status: str
            reason: str | None
            if self._random.random() < self._settings.unreachable_rate:
                status, reason = FAILED, "meter_unreachable"
            elif request.action == "bind":
                if not is_valid(request.install_code):
                    status, reason = FAILED, "invalid_install_code"
                else:
                    status, reason = await self._state.join(request, self._settings.max_devices)
            else:
                status, reason = await self._state.leave(request)
            await self._state.finish(bind_id, status, reason)
        log.info(
            "request finished",
            extra={"fields": {"bind_id": bind_id, "status": status, "reason": reason}},
        )


JOINER = web.AppKey("joiner", Joiner)
READER = web.AppKey("reader", MeterReader)


async def submit(request: web.Request) -> web.Response:
    bind_id = request.match_info["bind_id"]
    try:
        body: dict[str, Any] = orjson.loads(await request.read())
        meter_id, mac = str(body["meterId"]), str(body["macAddress"])
        install_code, action = str(body.get("installCode", "")), body["action"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="expected meterId, macAddress, installCode, action") from None
    if action not in ("bind", "unbind"):
        raise web.HTTPBadRequest(text="action must be bind or unbind")
    joiner = request.app[JOINER]
    stored = await request.app[STATE].submit(
        bind_id, meter_id, mac, install_code, action, time.time() + joiner.latency()
    )
    joiner.schedule(stored)
    return json_response(stored.to_json(), status=202)


async def status(request: web.Request) -> web.Response:
    stored = await request.app[STATE].request(request.match_info["bind_id"])
    if stored is None:
        raise web.HTTPNotFound(text="unknown bind id")
    return json_response(stored.to_json())


async def devices(request: web.Request) -> web.Response:
    meter_id = request.match_info["meter_id"]
    state = request.app[STATE]
    return json_response(
        {
            "meterId": meter_id,
            "devices": await state.devices(meter_id),
            "joinCounts": await state.join_counts(meter_id),
        }
    )


async def set_register(request: web.Request) -> web.Response:
    """For tests: set a meter's registers (raw), e.g. just short of a 48-bit rollover."""
    body = orjson.loads(await request.read())
    meter_id = request.match_info["meter_id"]
    if not await request.app[STATE].set_register(
        meter_id, int(body["delivered"]), int(body.get("received", 0))
    ):
        raise web.HTTPNotFound(text="no device is joined to that meter")
    return json_response({"meterId": meter_id})


async def exchange(request: web.Request) -> web.Response:
    """For tests: exchange a meter, whose registers restart from 0."""
    meter_id = request.match_info["meter_id"]
    if not await request.app[STATE].exchange(meter_id):
        raise web.HTTPNotFound(text="no device is joined to that meter")
    return json_response({"meterId": meter_id})


def create_app(settings: EmulatorSettings, rng: random.Random | None = None) -> web.Application:
    """The emulator; its state lives in `settings.database`."""
    rng = rng or random.Random()
    faults = Faults(settings.error_rate, settings.timeout_rate, settings.hang_seconds, 0.0)
    app = web.Application(
        middlewares=[
            traced("ami"),
            fault_middleware(faults, rng, lambda r: r.path.startswith("/v1/requests/")),
        ]
    )
    app[SETTINGS] = settings
    app[RANDOM] = rng
    app[STATE] = EmulatorState(settings.database, settings.calendar)
    app[JOINER] = Joiner(app[STATE], settings, rng)
    app[READER] = MeterReader(app[STATE], settings.reads, rng)
    app.router.add_put("/v1/requests/{bind_id}", submit)
    app.router.add_get("/v1/requests/{bind_id}", status)
    app.router.add_get("/v1/meters/{meter_id}/devices", devices)
    app.router.add_put("/v1/emulator/meters/{meter_id}/register", set_register)
    app.router.add_post("/v1/emulator/meters/{meter_id}/exchange", exchange)
    app.router.add_get("/healthz", server.healthz)
    app.cleanup_ctx.append(server.lifecycle(STATE, JOINER, READER))
    return app


def serve(settings: EmulatorSettings) -> int:
    """`gridhook emulator`: serve until SIGTERM/SIGINT."""
    return server.serve(
        lambda: create_app(settings), settings.host, settings.port, "AMI head-end emulator"
    )
