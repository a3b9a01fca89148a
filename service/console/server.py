"""`gridhook console`: serve the operator console until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

import uvloop
from aiohttp import web

from gridhook.contract.settings import Settings
from service.console.app import create_console

log = logging.getLogger("gridhook.console")


def serve(settings: Settings) -> int:
    """Run the console on GRIDHOOK_CONSOLE_HOST:GRIDHOOK_CONSOLE_PORT; return the exit status."""
    if not settings.store.admin_token:
        log.warning("GRIDHOOK_ADMIN_TOKEN is not set: nobody can log in to the console")
    bootstrap = settings.kafka.bootstrap
    where = settings.console
    log.info(
        "console listening", extra={"fields": {"address": f"http://{where.host}:{where.port}"}}
    )
    web.run_app(
        create_console(settings, bootstrap),
        host=where.host,
        port=where.port,
        access_log=None,  # requests are logged as actions, without their forms or cookies
        print=None,
        shutdown_timeout=5,
        loop=uvloop.new_event_loop(),
    )
    return 0
