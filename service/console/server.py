"""`gridhook console`: serve the operator console until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

from gridhook.contract import running
from gridhook.contract.settings import Settings
from service.console.app import create_console

log = logging.getLogger("gridhook.console")

STOP_SECONDS = 2.0
"""How long page loads in flight get at shutdown; background jobs are cancelled (what they
sent stays sent)."""


def serve(settings: Settings) -> int:
    """Run the console on GRIDHOOK_CONSOLE_HOST:GRIDHOOK_CONSOLE_PORT; return the exit status."""
    if not settings.store.admin_token:
        log.warning("GRIDHOOK_ADMIN_TOKEN is not set: nobody can log in to the console")
    where = settings.console
    return running.serve(
        lambda: create_console(settings, settings.kafka.bootstrap),
        name="console",
        host=where.host,
        port=where.port,
        shutdown_timeout=STOP_SECONDS,
    )
