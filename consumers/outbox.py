"""Publishing a step that is already durable in the store: retried until Kafka has it, so a
Kafka outage delays an announcement but never loses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from gridhook.contract.errors import GridhookError


async def until_published(publish: Callable[[], Awaitable[object]]) -> None:
    """Call `publish` until it succeeds, waiting longer (up to 30 s) after each failure."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(GridhookError),
        wait=wait_exponential_jitter(multiplier=0.5, max=30),
    ):
        with attempt:
            await publish()
