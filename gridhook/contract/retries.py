"""How gridhook waits before trying again, in one place: exponential backoff with jitter, from
a first wait to a cap. Every retry loop (the consumer runtime, the bind driver, the
orchestrator, the outboxes, Kafka connections, consumer-group calls) is a tenacity loop with
these waits, so they all grow the same way; each caller chooses its cap and when to stop. The
few places that schedule their next attempt durably rather than sleeping (an emulator's
webhook outbox, an accept whose answer was lost) ask `Backoff.delay` for the same waits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_base, stop_never
from tenacity.wait import wait_base

from gridhook.contract.errors import GridhookError

T = TypeVar("T")

FIRST_WAIT = 0.2
"""Seconds before the second attempt; each wait after doubles, up to the caller's cap."""


class Backoff(wait_base):
    """Waits of `first` seconds, then twice as long each time up to `cap`, each with up to
    half of it added at random (so that clients failing together do not retry together)."""

    def __init__(self, cap: float, first: float = FIRST_WAIT) -> None:
        self.cap = cap
        self.first = min(first, cap)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (from 1)."""
        base = min(self.cap, self.first * 2 ** min(attempt - 1, 62))
        return float(base * random.uniform(1.0, 1.5))

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.delay(retry_state.attempt_number)


def backoff(cap: float, first: float = FIRST_WAIT) -> Backoff:
    """The waits of a retry loop capped at `cap` seconds."""
    return Backoff(cap, first)


def is_retriable(error: BaseException) -> bool:
    """True for gridhook's errors that say trying again may succeed."""
    return isinstance(error, GridhookError) and error.retriable


def retrying(
    cap: float,
    *,
    first: float = FIRST_WAIT,
    when: Callable[[BaseException], bool] = is_retriable,
    stop: stop_base | Callable[[RetryCallState], bool] = stop_never,
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
