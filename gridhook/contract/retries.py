"""How gridhook waits before trying again, in one place: exponential backoff with jitter, from
a first wait to a cap, through tenacity. Every retry loop (the consumer runtime, the bind
driver, the orchestrator, the outboxes, Kafka connections) takes its waits from here, so they
all grow the same way; each caller chooses its cap and when to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_base, stop_never
from tenacity.wait import wait_base, wait_exponential_jitter

from gridhook.contract.errors import GridhookError

T = TypeVar("T")

FIRST_WAIT = 0.2
"""Seconds before the second attempt; each wait after doubles, up to the caller's cap."""


def backoff(cap: float, first: float = FIRST_WAIT) -> wait_base:
    """Waits of `first`, then twice as long each time up to `cap` seconds, plus up to a second
    of jitter (so that many clients failing together do not retry together)."""
    return wait_exponential_jitter(multiplier=first, max=cap, jitter=min(1.0, first * 5))


def is_retriable(error: BaseException) -> bool:
    """True for gridhook's errors that say trying again may succeed."""
    return isinstance(error, GridhookError) and error.retriable


def retrying(
    cap: float,
    *,
    first: float = FIRST_WAIT,
    when: Callable[[BaseException], bool] = is_retriable,
    stop: stop_base = stop_never,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """An `async for attempt in retrying(...)` loop: retries the errors `when` accepts with
    `backoff(cap, first)` until `stop`; the last error is raised as it is."""
    return AsyncRetrying(
        retry=retry_if_exception(when),
        wait=backoff(cap, first),
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


async def retried(
    call: Callable[[], Awaitable[T]],
    cap: float,
    *,
    when: Callable[[BaseException], bool] = is_retriable,
    stop: stop_base = stop_never,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`call()` until it returns, retrying the errors `when` accepts (see `retrying`)."""
    async for attempt in retrying(cap, when=when, stop=stop, sleep=sleep):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or reraises")
