"""Fault injection shared by the emulators: a partner's API sometimes hangs, sometimes answers
503 (half of those 503s come after the work was done, the answer lost on the way back: the case
that makes a client's retry dangerous), and may answer every call late (the work done at once,
the answer `slow_seconds` later)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gridhook.contract.settings import Faults


def fault_middleware(
    faults: Faults, rng: random.Random, applies: Callable[[web.Request], bool]
) -> Middleware:
    """A middleware misbehaving as `faults` says on the requests `applies` selects."""

    @web.middleware
    async def misbehave(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not applies(request):
            return await handler(request)
        if rng.random() < faults.timeout_rate:
            await asyncio.sleep(faults.hang_seconds)
        if rng.random() < faults.error_rate:
            if rng.random() < 0.5:
                with contextlib.suppress(Exception):  # the work is done, the answer lost
                    await handler(request)
            raise web.HTTPServiceUnavailable(text="temporarily unavailable")
        response = await handler(request)
        if faults.slow_seconds:  # done at once, answered late: a client may give up meanwhile
            await asyncio.sleep(faults.slow_seconds)
        return response

    return misbehave
