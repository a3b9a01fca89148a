"""Logging in and out of the console: the login form, its nonce, the session cookie."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import aiohttp_jinja2
from aiohttp import web

from gridhook.contract.errors import GridhookError
from service.console import audit
from service.console.keys import (
    CLOCK,
    SESSION,
    SESSIONS,
    SETTINGS,
)
from service.console.operators import authenticate
from service.console.sessions import COOKIE, LOGIN_COOKIE, same_secret

log = logging.getLogger("gridhook.console")


async def login_form(request: web.Request) -> web.Response:
    # Kept while it lives: a second load of this page (another tab) must not void the first.
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"login_csrf": nonce, "error": None}
    )
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=600)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    app = request.app
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not same_secret(str(form.get("login_csrf", "")), nonce):
        raise web.HTTPForbidden(text="login form expired: reload the login page")
    name = str(form.get("name", ""))
    operator = await asyncio.to_thread(  # argon2 takes tens of milliseconds: off the loop
        authenticate, app[SETTINGS].console.users, name, str(form.get("password", ""))
    )
    if operator is None:
        log.warning("console login refused", extra={"fields": {"remote": request.remote}})
        fresh = secrets.token_urlsafe(24)
        response = aiohttp_jinja2.render_template(
            "login.html",
            request,
            {"login_csrf": fresh, "error": "That name and password do not match an operator."},
            status=401,
        )
        _set_cookie(request, response, LOGIN_COOKIE, fresh, max_age=600)
        return response
    session = app[SESSIONS].open(operator, app[CLOCK]())
    log.info("console login", extra={"fields": {"operator": operator.name, "role": operator.role}})
    with contextlib.suppress(GridhookError):  # a login is recorded when Kafka can take it
        await audit.record(app, operator, "login", "console", 0)
    response = web.HTTPSeeOther("/installations")
    _set_cookie(request, response, COOKIE, session.session_id, max_age=int(app[SESSIONS].lifetime))
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS].close(request[SESSION].session_id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
