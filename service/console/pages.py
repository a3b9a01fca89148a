"""The console's routes. The pages, by the operator's question:
`login_pages`, `record_pages` (events, one record, follow a delivery), `redrive_pages` (dead
letters, replay, jobs) and `state_pages` (entities, health). Handlers parse, call
`gridhook.kafka.browsing`, `gridhook.kafka.replay` and the store, and render a template;
every action is a POST the middleware has checked for CSRF."""

from __future__ import annotations

import logging

from aiohttp import web

from service.console import (
    customer_pages,
    installation_pages,
    login_pages,
    record_pages,
    redrive_pages,
    state_pages,
)

log = logging.getLogger("gridhook.console")


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", home)
    router.add_get("/favicon.ico", no_icon)
    router.add_get("/login", login_pages.login_form)
    router.add_post("/login", login_pages.login)
    router.add_post("/logout", login_pages.logout)
    router.add_get("/events", record_pages.events)
    router.add_get("/records/{topic}/{partition}/{offset}", record_pages.record)
    router.add_post("/records/{topic}/{partition}/{offset}/reveal", record_pages.reveal)
    router.add_get("/follow", record_pages.follow)
    router.add_get("/dead-letters", redrive_pages.dead_letters)
    router.add_post("/dead-letters/dry-run", redrive_pages.dead_letters_dry_run)
    router.add_post("/dead-letters/redrive", redrive_pages.dead_letters_redrive)
    router.add_get("/replay", redrive_pages.replay_form)
    router.add_post("/replay/preview", redrive_pages.replay_preview)
    router.add_post("/replay/run", redrive_pages.replay_run)
    router.add_get("/jobs/{job_id}", redrive_pages.job_page)
    router.add_get("/jobs/{job_id}/progress", redrive_pages.job_progress)
    router.add_get("/entities", state_pages.entity)
    router.add_get("/installations", installation_pages.installations)
    router.add_get("/installations/{installation_id}", installation_pages.installation)
    router.add_post(
        "/installations/{installation_id}/{action:resume|cancel}", installation_pages.act
    )
    router.add_get("/find", customer_pages.find)
    router.add_get("/accounts/{account_id}", customer_pages.account)
    router.add_get("/services/{location}", customer_pages.service)
    router.add_get("/audit", customer_pages.audit_page)
    router.add_get("/health", state_pages.health)


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/installations")
