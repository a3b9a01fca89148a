"""The state applier: a `BatchHandler` turning records into store updates."""

from __future__ import annotations

from collections.abc import Sequence

from consumers.runtime import Counts, InboundRecord
from gridhook.contract.codec import decode
from gridhook.contract.errors import PermanentError
from gridhook.state.store import Application, Store
from gridhook.state.transitions import updates_for


class StateApplier:
    """Decodes each record, derives its updates (pure), applies the batch in one transaction.

    A record that cannot be decoded or understood is rejected (dead-lettered); the rest of the
    batch is applied.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        applications = []
        rejected: list[tuple[InboundRecord, PermanentError]] = []
        for record in records:
            try:
                event = decode(record.key, record.value, record.headers)
                updates = updates_for(record.topic, event)
            except PermanentError as error:
                rejected.append((record, error))
                continue
            applications.append(
                Application(
                    event_key=f"{event.source}:{event.id}",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    updates=updates,
                )
            )
        outcome = await self._store.apply(applications)
        return Counts(applied=outcome.applied, duplicates=outcome.duplicates, rejected=rejected)
