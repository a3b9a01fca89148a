"""Starting and closing aiokafka clients, in one place.

Every consumer and admin client gridhook opens comes from here, as an async context manager
that starts it, closes it on the way out whatever happens, and translates the Kafka failures
raised while starting or using it into gridhook's error tree (`gridhook.kafka.errors`). Errors
of gridhook's own and programming errors pass through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from gridhook.kafka.errors import translate

_KAFKA_FAILURES = (KafkaError, OSError, TimeoutError)
CLOSE_SECONDS = 5.0
"""Longest a client may take to close (leave its group, flush): Kafka may be gone."""


async def close_within(closing: Awaitable[None]) -> None:
    """Await a client's close, for at most `CLOSE_SECONDS`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_SECONDS):
            await closing


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Kafka failures inside the block become gridhook errors."""
    try:
        yield
    except _KAFKA_FAILURES as error:
        raise translate(error) from error


@contextlib.asynccontextmanager
async def admin(
    bootstrap: str, request_timeout_ms: int = 15_000
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
    try:
        async with translated():
            await client.start()
            yield client
    finally:
        await close_within(client.close())


@contextlib.asynccontextmanager
async def consumer(
    bootstrap: str,
    topics: Sequence[str] = (),
    listener: ConsumerRebalanceListener | None = None,
    **options: Any,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer, subscribed to `topics` (as a member of `group_id`, told of
    rebalances through `listener`) or, without topics, for the caller to assign. `options` are
    aiokafka's; offsets are never committed automatically."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    if topics:
        client.subscribe(list(topics), listener=listener)
    try:
        async with translated():
            await client.start()
            yield client
    finally:
        await close_within(client.stop())
