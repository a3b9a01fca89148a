"""Requests to a route of a fixed path go to its handler without aiohttp's per-request routing.

For every request, aiohttp's `Application._handle` resolves the path through the router, builds
and freezes a match for it and looks up the middleware chain wrapped around its handler. The
partner routes have fixed paths, so `served_directly` does that once per route, when the server
starts: a request whose method and path name such a route gets the prepared match and chain
(the app's middlewares, `problems.render_errors`, around the route's handler). Everything else
(a path with a variable, an unknown path or method, `Expect: 100-continue`) takes aiohttp's way.
It spares 4-5 µs of a webhook's 190-200 µs of CPU (bench/README.md, Ingress).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
"""What `web.Server` calls with each request."""
_Prepared = tuple[UrlMappingMatchInfo, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def served_directly(app: web.Application, fallback: RequestHandler) -> RequestHandler:
    """A request handler for the server of `app` (frozen, without sub-apps): a request to a
    route of a fixed path is handled through the app's middlewares with the match prepared for
    that route; any other goes to `fallback`, the app's own handling."""
    prepared: dict[tuple[str, str], _Prepared] = {}
    for resource in app.router.resources():
        if not isinstance(resource, web.PlainResource):
            continue
        for route in resource:
            if route.method == hdrs.METH_ANY:
                continue
            match = UrlMappingMatchInfo({}, route)
            match.add_app(app)
            match.freeze()  # shared by every request to the route: nothing may change it
            handler = route.handler
            for middleware in reversed(app.middlewares):
                handler = partial(middleware, handler=handler)
            prepared[(route.method, resource.canonical)] = (match, handler)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        route = prepared.get((request.method, request.rel_url.path_safe))
        if route is None or hdrs.EXPECT in request.headers:
            return await fallback(request)
        match, handler = route
        assert isinstance(request, web.Request)  # the app's request factory made it
        request._match_info = match  # as `Application._handle` sets it
        return await handler(request)

    return handle
