"""Routes of a fixed path are served without aiohttp's per-request routing, through the app's
middlewares, and every other request as aiohttp would serve it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from service.ingress.direct import served_directly
from service.ingress.problems import Handler


@dataclass
class Served:
    base: str
    app: web.Application
    fallbacks: list[str] = field(default_factory=list)
    prepared: list[str] = field(default_factory=list)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    @web.middleware
    async def rendering(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except LookupError:
            return web.Response(status=409, text="rendered")
        response.headers["X-Middleware"] = "ran"
        return response

    async def fixed(request: web.Request) -> web.Response:
        if await request.read() == b"fail":
            raise LookupError
        assert request.app is app
        return web.Response(text=f"fixed {request.match_info.route.resource.canonical}")  # type: ignore[union-attr]

    async def variable(request: web.Request) -> web.Response:
        return web.Response(text=f"variable {request.match_info['tenant']}")

    app = web.Application(middlewares=[rendering])
    app.router.add_post("/hooks/a", fixed)
    app.router.add_get("/readyz", fixed)
    app.router.add_post("/hooks/t/{tenant}", variable)

    async def prepare(request: web.Request, response: web.StreamResponse) -> None:
        state.prepared.append(request.path)

    app.on_response_prepare.append(prepare)
    runner = web.AppRunner(app)
    await runner.setup()
    assert runner.server is not None
    own = runner.server.request_handler

    async def fallback(request: web.BaseRequest) -> web.StreamResponse:
        state.fallbacks.append(f"{request.method} {request.path}")
        return await own(request)

    runner.server.request_handler = served_directly(app, fallback)
    listening = await asyncio.get_running_loop().create_server(runner.server, "127.0.0.1", 0)
    state = Served(f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}", app)
    yield state
    listening.close()
    await runner.cleanup()


async def send(
    base: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, str, str | None]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, base + path, data=body, headers=headers) as response,
    ):
        return response.status, await response.text(), response.headers.get("X-Middleware")


async def test_a_fixed_path_reaches_its_handler_through_the_middlewares_without_the_router(
    served: Served,
) -> None:
    """The handler sees the app and its route, the middleware wraps it (and renders its
    error), the response signals fire, and aiohttp's own handling is never asked."""
    assert await send(served.base, "POST", "/hooks/a") == (200, "fixed /hooks/a", "ran")
    assert await send(served.base, "GET", "/readyz") == (200, "fixed /readyz", "ran")
    assert await send(served.base, "POST", "/hooks/a", b"fail") == (409, "rendered", None)
    assert served.fallbacks == []
    assert served.prepared == ["/hooks/a", "/readyz", "/hooks/a"]


async def test_every_other_request_is_served_by_aiohttp_as_before(served: Served) -> None:
    """A path with a variable, a wrong method, an unknown path and `Expect: 100-continue` take
    aiohttp's way and get its answers."""
    assert await send(served.base, "POST", "/hooks/t/north") == (200, "variable north", "ran")
    assert (await send(served.base, "PUT", "/hooks/a"))[0] == 405
    assert (await send(served.base, "POST", "/nowhere"))[0] == 404
    expecting = {"Expect": "100-continue"}
    assert await send(served.base, "POST", "/hooks/a", b"x", expecting) == (
        200,
        "fixed /hooks/a",
        "ran",
    )
    assert served.fallbacks == [
        "POST /hooks/t/north",
        "PUT /hooks/a",
        "POST /nowhere",
        "POST /hooks/a",
    ]
