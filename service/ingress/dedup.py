"""Deduplication of webhook deliveries by message id.

`Deduplicator.publish_once(id, send)` runs `send` at most once per id at a time:
- an id accepted within the window is a duplicate: `publish` is not called again;
- an id whose first publish is still in flight (the partner retried while Kafka was slow) joins
  that publish instead of starting a second one, so a timed-out request never causes a second
  record when it is retried;
- an id whose publish failed is forgotten, so the partner's retry publishes it.

In memory, per process, ids are kept in generations, each a set of at most a tenth of
`max_ids` ids accepted within a tenth of `window`, forgotten a generation at a time: an id is
remembered for at least `window` seconds and at most a tenth longer, at most `max_ids` of them
(when full, the oldest generation goes), each as an 88-bit digest held in an int. 100,000 ids
take about 9 MB, and no large table is ever copied, as a dict's growing or rebuilding does. With
`shared` claims (PostgreSQL, see `gridhook.state.claims`) the same holds across every ingress
replica: before publishing a new id, the replica claims it there, and a retry that reaches
another replica is a duplicate, or waits for the publish in flight. The memory stays in front
of the shared store, so a retry to the same replica costs no round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gridhook.contract.errors import GridhookError
from gridhook.state.claims import Claim, SharedClaims

Result = TypeVar("Result")

log = logging.getLogger("gridhook.ingress")

CLAIM_POLL_SECONDS = 0.05
GENERATIONS = 10


@dataclass
class _Generation:
    """The ids accepted between `opened_at` and `last_accepted_at`."""

    opened_at: float
    last_accepted_at: float
    ids: set[int] = field(default_factory=set)


class Deduplicator(Generic[Result]):
    """Single-flight publishing with a bounded memory of accepted ids."""

    def __init__(
        self,
        window: float,
        max_ids: int,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedClaims | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._window = window
        self._max_ids = max_ids
        self._clock = clock
        self._shared = shared
        self._wall_clock = wall_clock
        self._generations: deque[_Generation] = deque()  # oldest first
        self._generation_size = max(1, max_ids // GENERATIONS)
        self._remembered = 0
        self._in_flight: dict[str, asyncio.Future[Result]] = {}
        self._settling: set[asyncio.Future[None]] = set()

    def __len__(self) -> int:
        return self._remembered

    def seen(self, message_id: str) -> bool:
        """True when `message_id` was accepted within the window."""
        self._forget_past_window()
        key = _digest(message_id)
        return any(key in generation.ids for generation in self._generations)

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
        only publishes in flight in this process are joined: the id is not remembered once
        acknowledged (the caller decides what is a duplicate, as for PowerBox versions).
        """
        if remember and self.seen(message_id):
            return None, True
        future = self._in_flight.get(message_id)
        if future is not None:
            return await asyncio.shield(future), True
        shared = self._shared if remember else None
        if shared is not None and not await self._claim(shared, message_id):
            self._remember(message_id)
            return None, True
        future = self._in_flight.get(message_id)  # another delivery started it meanwhile
        if future is not None:
            return await asyncio.shield(future), True
        try:
            future = await send()
        except BaseException:
            if shared is not None:
                await _quietly(shared.release(message_id))
            raise
        self._in_flight[message_id] = future
        future.add_done_callback(lambda done: self._settle(message_id, done, remember, shared))
        return await asyncio.shield(future), False

    async def _claim(self, shared: SharedClaims, message_id: str) -> bool:
        """True when this replica is to publish `message_id`; False when another did. Waits
        while another replica's publish is in flight (the caller's timeout bounds it)."""
        while True:
            try:
                claim = await shared.claim(message_id, self._wall_clock())
            except GridhookError as error:
                # The store is out of reach: fall back on this process's memory.
                log.warning(
                    "shared deduplication unavailable",
                    extra={"fields": {"error": type(error).__name__}},
                )
                return True
            if claim is Claim.MINE:
                return True
            if claim is Claim.ACCEPTED:
                return False
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    def _settle(
        self,
        message_id: str,
        future: asyncio.Future[Result],
        remember: bool,
        shared: SharedClaims | None,
    ) -> None:
        self._in_flight.pop(message_id, None)
        failed = future.cancelled() or future.exception() is not None
        if shared is not None:
            outcome = (
                shared.release(message_id)
                if failed
                else shared.accept(message_id, self._wall_clock())
            )
            task = asyncio.ensure_future(_quietly(outcome))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
        if remember and not failed:
            self._remember(message_id)

    def _remember(self, message_id: str) -> None:
        now = self._clock()
        generations = self._generations
        if (
            not generations
            or len(generations[-1].ids) >= self._generation_size
            or now - generations[-1].opened_at >= self._window / GENERATIONS
        ):
            generations.append(_Generation(opened_at=now, last_accepted_at=now))
        current = generations[-1]
        before = len(current.ids)
        current.ids.add(_digest(message_id))
        current.last_accepted_at = now
        self._remembered += len(current.ids) - before
        while self._remembered > self._max_ids:
            self._remembered -= len(generations.popleft().ids)

    def _forget_past_window(self) -> None:
        horizon = self._clock() - self._window
        generations = self._generations
        while generations and generations[0].last_accepted_at <= horizon:
            self._remembered -= len(generations.popleft().ids)


def _digest(message_id: str) -> int:
    # 88 bits: an int of 40 bytes (a 16-byte bytes object takes 56), and a collision (a new id
    # taken for a remembered one) about 1 in 10^21 per id against 100,000 remembered ones.
    return int.from_bytes(hashlib.blake2b(message_id.encode(), digest_size=11).digest())


async def _quietly(operation: Awaitable[object]) -> None:
    try:
        await operation
    except GridhookError as error:
        log.warning(
            "shared deduplication not updated", extra={"fields": {"error": type(error).__name__}}
        )
