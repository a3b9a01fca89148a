"""The emulators continue the caller's trace: one server span per request, as a middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from gridhook.contract import tracing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def traced(name: str) -> Middleware:
    """A middleware making a SERVER span, child of the request's `traceparent`, named
    `<name> <method> <route>`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        with tracing.tracer().start_as_current_span(
            f"{name} {request.method} {route}",
            context=tracing.from_http(request.headers),
            kind=tracing.SERVER,
        ) as span:
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            return response

    return middleware
