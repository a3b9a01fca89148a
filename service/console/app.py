"""The console's aiohttp application: one factory, shared objects behind typed keys, each
resource set up and torn down by one cleanup context, sessions and CSRF checked by one
middleware."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gridhook.contract.settings import Settings
from gridhook.kafka.publisher import KafkaPublisher, Publisher
from gridhook.state.store import Store
from service.console import pages
from service.console.display import utc
from service.console.health import IngressSampler
from service.console.jobs import Jobs
from service.console.keys import (
    BOOTSTRAP,
    CLOCK,
    JOBS,
    PUBLISHER,
    SAMPLER,
    SESSION,
    SESSIONS,
    SETTINGS,
    STORE,
)
from service.console.sessions import COOKIE, Sessions, same_secret

log = logging.getLogger("gridhook.console")

HERE = Path(__file__).parent
OPEN_PATHS = ("/login", "/static/", "/favicon.ico")
VIEWER_POSTS = frozenset({"/logout", "/dead-letters/dry-run", "/replay/preview"})
"""The POSTs a viewer may make: they change nothing."""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def sessions_and_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but the login form needs a session; every POST needs the session's CSRF
    token. Security headers go on every answer."""
    if not request.path.startswith(OPEN_PATHS):
        app = request.app
        session = app[SESSIONS].find(request.cookies.get(COOKIE), app[CLOCK]())
        if session is None:
            if request.method == "GET":
                raise _with_headers(web.HTTPSeeOther("/login"))
            raise _with_headers(web.HTTPForbidden(text="session expired: log in again"))
        if request.method == "POST":
            form = await request.post()
            if not same_secret(str(form.get("csrf", "")), session.csrf):
                log.warning(
                    "console action refused: bad CSRF token",
                    extra={"fields": {"path": request.path}},
                )
                raise _with_headers(web.HTTPForbidden(text="CSRF token missing or wrong"))
            if not session.operator.may_act and request.path not in VIEWER_POSTS:
                log.warning(
                    "console action refused: a viewer",
                    extra={"fields": {"path": request.path, "operator": session.operator.name}},
                )
                raise _with_headers(web.HTTPForbidden(text="a viewer cannot act: ask an operator"))
        request[SESSION] = session
    response = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    return response


def _with_headers(error: web.HTTPException) -> web.HTTPException:
    error.headers.update(SECURITY_HEADERS)
    return error


def create_console(
    settings: Settings,
    bootstrap: str,
    *,
    publisher: Publisher | None = None,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The console app; `publisher` and `store` default to real ones started with the app."""
    app = web.Application(middlewares=[sessions_and_csrf])
    app[SETTINGS] = settings
    app[BOOTSTRAP] = bootstrap
    app[CLOCK] = clock
    app[SESSIONS] = Sessions(settings.console.session_seconds)
    app[JOBS] = Jobs()
    listen_all = ("0.0.0.0", "::", "")  # noqa: S104 (addresses to recognise, not to bind)
    ingress_host = "127.0.0.1" if settings.http.host in listen_all else settings.http.host
    app[SAMPLER] = IngressSampler(f"http://{ingress_host}:{settings.http.port}/metrics")
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        context_processors=[_context],
        filters={"utc": utc},
    )
    app[aiohttp_jinja2.static_root_key] = "/static"
    app.cleanup_ctx.append(_store(store))
    app.cleanup_ctx.append(_publisher(publisher))
    app.cleanup_ctx.append(_background)
    pages.add_routes(app)
    app.router.add_static("/static/", HERE / "static", append_version=True)
    return app


async def _context(request: web.Request) -> dict[str, Any]:
    session = request.get(SESSION)
    return {
        "csrf": session.csrf if session else "",
        "logged_in": session is not None,
        "operator": session.operator if session else None,
        "request_query_q": request.query.get("q", "") if request.path == "/find" else "",
        "path": request.path,
        "now": datetime.now(UTC),
    }


def _store(given: Store | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        store = given or Store(app[SETTINGS].store.database_url)
        app[STORE] = store
        yield
        if given is None:
            await store.close()

    return context


def _publisher(given: Publisher | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        publisher = given or KafkaPublisher(app[SETTINGS].kafka, app[BOOTSTRAP])
        if given is None:
            await publisher.start()
        app[PUBLISHER] = publisher
        yield
        await app[JOBS].cancel_all()
        if given is None:
            await publisher.stop()

    return context


async def _background(app: web.Application) -> AsyncIterator[None]:
    import asyncio

    sampling = asyncio.create_task(app[SAMPLER].run())
    yield
    sampling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampling
