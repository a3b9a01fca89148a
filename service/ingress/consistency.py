"""Read-your-writes for PowerBox: what this ingress acknowledged, and waiting for the state
applier to catch up before answering from the store.

A CIS syncs a customer and binds one of its meters a moment later; the bind must be answered
from state that includes the sync. `ApplierProgress.caught_up` takes the end offsets of
`powerbox.customers` from Kafka (so every sync any ingress replica had acknowledged by then is
behind them) and waits, at most `GRIDHOOK_READ_YOUR_WRITES_WAIT` seconds, until the state
applier has applied that far. `AcknowledgedSyncs` remembers the last sync this process
acknowledged per clientId, so an identical sync posted again before the applier applied the
first is answered as current.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from gridhook.kafka.offsets import EndOffsets
from gridhook.state.store import Store

POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Acknowledged:
    """One acknowledged sync: where Kafka put it, and the hash of its content."""

    offset: int
    content_hash: str


class AcknowledgedSyncs:
    """The latest sync acknowledged per clientId, for at most `max_ids` clients."""

    def __init__(self, max_ids: int) -> None:
        self._max_ids = max_ids
        self._latest: OrderedDict[str, Acknowledged] = OrderedDict()

    def record(self, client_id: str, offset: int, content_hash: str) -> None:
        """Remember a sync Kafka acknowledged, unless a later one is remembered already."""
        known = self._latest.get(client_id)
        if known is None or offset > known.offset:
            self._latest[client_id] = Acknowledged(offset, content_hash)
        self._latest.move_to_end(client_id)
        while len(self._latest) > self._max_ids:
            self._latest.popitem(last=False)

    def latest(self, client_id: str) -> Acknowledged | None:
        return self._latest.get(client_id)


class ApplierProgress:
    """Whether the state applier has applied everything Kafka holds of a topic."""

    def __init__(self, store: Store, end_offsets: EndOffsets, wait: float) -> None:
        self._store = store
        self._end_offsets = end_offsets
        self._wait = wait

    async def caught_up(self, topic: str) -> bool:
        """Wait, at most the configured time, until every record of `topic` published before
        this call is applied; False if that did not happen in time. Raises a retriable error
        when Kafka or the store cannot be asked."""
        ends = await self._end_offsets.of(topic)
        try:
            async with asyncio.timeout(self._wait):
                # The applier is another process: its progress shows only in the store.
                while not _reached(await self._store.applied_through(topic), ends):  # noqa: ASYNC110
                    await asyncio.sleep(POLL_SECONDS)
        except TimeoutError:
            return False
        return True


def _reached(applied: dict[int, int], ends: dict[int, int]) -> bool:
    return all(applied.get(partition, 0) >= end for partition, end in ends.items())
