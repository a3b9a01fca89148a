"""The state applier: a `BatchHandler` turning records into store updates."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from gridhook.contract import tracing
from gridhook.contract.codec import CloudEvent, Position, decode, first_position, format_time
from gridhook.contract.errors import PermanentError
from gridhook.kafka.consumer import Counts
from gridhook.kafka.records import InboundRecord
from gridhook.state.facts import PARENT, EntityUpdate, Fact, merge
from gridhook.state.kinds import ACCOUNT_ERASURE, PERSON
from gridhook.state.people import erased_updates
from gridhook.state.personal_data import PersonalData
from gridhook.state.store import Application, Store
from gridhook.state.transitions import RECONCILERS, erased_account, event_time, updates_for

FORGET_EVERY_SECONDS = 300.0


class StateApplier:
    """Decodes each record, derives its updates (pure), applies the batch in one transaction.

    Facts ordered by their record's position use the position the record was first published
    at, so a replayed or re-driven old record never passes a newer one.

    A record that cannot be decoded or understood is rejected (dead-lettered); the rest of the
    batch is applied.
    """

    def __init__(
        self,
        store: Store,
        remember_days: float = 7.0,
        clock: Callable[[], float] = time.monotonic,
        personal: PersonalData | None = None,
    ) -> None:
        self._store = store
        self._personal = personal
        self._remember = timedelta(days=remember_days)
        self._clock = clock
        self._next_forgetting = clock()
        self._tracer = tracing.tracer()

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        applications: list[Application] = []
        erasures: list[tuple[str, CloudEvent, InboundRecord]] = []
        rejected: list[tuple[InboundRecord, PermanentError]] = []
        spans = []
        # Nothing to continue when no span is recorded: the trace is on the record already.
        recording = tracing.recording()
        for record in records:
            traced = tracing.from_record(record.headers) if recording else None
            if traced is not None:  # the record's own span lasts until its batch is applied
                spans.append(
                    self._tracer.start_span(
                        f"apply {record.topic}", context=traced, kind=tracing.CONSUMER
                    )
                )
            try:
                event = decode(record.key, record.value, record.headers)
                here = Position(record.topic, record.partition, record.offset)
                seq = first_position(here, record.headers).offset
                updates = updates_for(record.topic, event, seq)
            except PermanentError as error:
                rejected.append((record, error))
                continue
            account = erased_account(record.topic, event)
            if account is not None:
                erasures.append((account, event, record))
            applications.append(
                Application(
                    event_key=f"{event.source}:{event.id}",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    updates=updates,
                )
            )
        for account, event, record in erasures:
            applications.append(await self._erase(account, event, record, applications))
        await self._erase_late_people(applications)
        read = [(record.topic, record.partition, record.offset) for record, _ in rejected]
        try:
            outcome = await self._store.apply(applications, read, RECONCILERS)
        finally:
            for span in spans:
                span.end()
        await self._forget_old_ids()
        return Counts(applied=outcome.applied, duplicates=outcome.duplicates, rejected=rejected)

    async def _erase(
        self, account: str, event: CloudEvent, record: InboundRecord, batch: list[Application]
    ) -> Application:
        """Erase the account's people as of the erasure's time: their keys deleted first (so a
        crash before the batch commits erases again on redelivery), then, in the batch, their
        sealed fields and indexes dropped, and the erasure recorded for people who arrive
        later from another topic (`_erase_late_people`). The account's other data stays."""
        at = event_time(format_time(event.time))
        stored = [
            person.entity_id
            for person in await self._store.children(PERSON, account)
            if _latest(person.facts.values()) <= at
        ]
        in_batch = [
            update.entity_id
            for item in batch
            for update in item.updates
            if update.kind == PERSON
            and _parent(update) == account
            and _latest(update.facts.values()) <= at
        ]
        people = sorted(set(stored + in_batch))
        if self._personal is not None:
            await self._personal.erase(people)
        erasure = Fact(None, at, event.id)
        marker = EntityUpdate(ACCOUNT_ERASURE, account, {"erased": Fact(True, at, event.id)})
        return Application(
            event_key=f"erase:{event.source}:{event.id}",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            updates=[*erased_updates(people, erasure), marker],
        )

    async def _erase_late_people(self, batch: list[Application]) -> None:
        """People of an erased account whose records are older than its erasure are erased as
        they are applied, whichever topic was read first: the state is the one the records'
        own times give, in any order."""
        people = [
            update
            for item in batch
            for update in item.updates
            if update.kind == PERSON and _parent(update) is not None
        ]
        if not people:
            return
        accounts = sorted({str(_parent(update)) for update in people})
        erasures = {
            account: entity.facts["erased"]
            for account, entity in (await self._store.entities(ACCOUNT_ERASURE, accounts)).items()
            if "erased" in entity.facts
        }
        for item in batch:
            for update in item.updates:
                if update.kind == ACCOUNT_ERASURE and "erased" in update.facts:
                    erasures[update.entity_id] = update.facts["erased"]
        late: list[str] = []
        for update in people:
            erased = erasures.get(str(_parent(update)))
            if erased is None or _latest(update.facts.values()) > erased.at:
                continue
            late.append(update.entity_id)
            (wiped,) = erased_updates([update.entity_id], Fact(None, erased.at, erased.event_id))
            update.facts.update(merge(update.facts, wiped.facts))
        if late and self._personal is not None:
            await self._personal.erase(sorted(set(late)))

    async def _forget_old_ids(self) -> None:
        """Every few minutes, drop the ids of events applied longer ago than the horizon.

        What still holds past it: a redelivered or replayed record is applied again, and that
        changes nothing, since every fact merge is idempotent and ordered by the event's own
        time or first position; it is only counted as applied rather than as a duplicate.
        """
        if self._clock() < self._next_forgetting:
            return
        self._next_forgetting = self._clock() + FORGET_EVERY_SECONDS
        await self._store.forget_applied(datetime.now(UTC) - self._remember)

    async def assigned(self, starts: dict[tuple[str, int], int]) -> None:
        """Record where reading starts on new partitions: everything before is applied (or was
        skipped on purpose, as by `state rebuild --since`), so readers waiting for the applier
        to reach the end of a partition do not wait for records it will never read."""
        await self._store.apply(
            [], [(topic, p, offset - 1) for (topic, p), offset in starts.items()]
        )

    async def revoked(self, partitions: list[tuple[str, int]]) -> None:
        return None


def _latest(facts: Iterable[Fact]) -> str:
    """The time of the newest of `facts` ("" for none)."""
    return max((fact.at for fact in facts), default="")


def _parent(update: EntityUpdate) -> object:
    fact = update.facts.get(PARENT)
    return None if fact is None else fact.value
