"""The one way tests and benchmarks wait: poll a condition until it holds, under a deadline."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]], deadline: float, what: str, interval: float = ...
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T], deadline: float, what: str, interval: float = ...
) -> T: ...


async def eventually(
    probe: Callable[[], Any], deadline: float, what: str, interval: float = 0.05
) -> Any:
    """Call `probe` (plain or async) until it returns something truthy, and return that; fail
    the test naming `what` after `deadline` seconds."""
    try:
        async with asyncio.timeout(deadline):
            while True:
                value = probe()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"timed out after {deadline} s waiting for {what}") from None
