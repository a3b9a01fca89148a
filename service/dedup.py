"""Deduplication of webhook deliveries by message id, in bounded memory.

`Deduplicator.publish_once(id, send)` runs `send` at most once per id at a time:
- an id accepted within the window is a duplicate: `publish` is not called again;
- an id whose first publish is still in flight (the partner retried while Kafka was slow) joins
  that publish instead of starting a second one, so a timed-out request never causes a second
  record when it is retried;
- an id whose publish failed is forgotten, so the partner's retry publishes it.

Memory is bounded by `max_ids` and `window` seconds, whichever is smaller; ids are kept per
process only (see README, Deduplication).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Result = TypeVar("Result")


class Deduplicator(Generic[Result]):
    """Single-flight publishing with a bounded memory of accepted ids."""

    def __init__(
        self, window: float, max_ids: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._max_ids = max_ids
        self._clock = clock
        self._accepted: OrderedDict[str, float] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[Result]] = {}

    def __len__(self) -> int:
        return len(self._accepted)

    def seen(self, message_id: str) -> bool:
        """True when `message_id` was accepted within the window."""
        accepted_at = self._accepted.get(message_id)
        return accepted_at is not None and self._clock() - accepted_at < self._window

    async def publish_once(
        self,
        message_id: str,
        send: Callable[[], Awaitable[asyncio.Future[Result]]],
        *,
        remember: bool = True,
    ) -> tuple[Result | None, bool]:
        """`(result, duplicate)`: `duplicate` is True when this call published nothing new
        (the id was accepted before: result None; or it joined a publish in flight).

        `send` hands the record over and returns the future of its acknowledgement. Raises what
        that future raises. When the caller stops waiting (a timeout cancels this call), the
        publish goes on, and a later delivery of the same id joins it. With `remember` False
        only publishes in flight are joined: the id is not remembered once acknowledged (the
        caller decides what is a duplicate, as for PowerBox customer versions).
        """
        if remember and self.seen(message_id):
            return None, True
        future = self._in_flight.get(message_id)
        joined = future is not None
        if future is None:
            future = await send()
            self._in_flight[message_id] = future
            future.add_done_callback(lambda done: self._settle(message_id, done, remember))
        return await asyncio.shield(future), joined

    def _settle(self, message_id: str, future: asyncio.Future[Result], remember: bool) -> None:
        self._in_flight.pop(message_id, None)
        if not remember or future.cancelled() or future.exception() is not None:
            return
        now = self._clock()
        accepted = self._accepted
        accepted[message_id] = now
        accepted.move_to_end(message_id)
        horizon = now - self._window
        while accepted and (
            len(accepted) > self._max_ids or next(iter(accepted.values())) < horizon
        ):
            accepted.popitem(last=False)
