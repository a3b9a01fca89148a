"""Publishing a step that is already durable in the store: retried until Kafka has it, so a
Kafka outage delays an announcement but never loses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gridhook.contract.errors import GridhookError
from gridhook.contract.retries import retried


async def until_published(publish: Callable[[], Awaitable[object]]) -> None:
    """Call `publish` until it succeeds, waiting longer (up to 30 s) after each failure."""
    await retried(publish, 30, when=lambda error: isinstance(error, GridhookError))
