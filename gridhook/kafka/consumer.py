"""The consumer runtime every gridhook consumer process uses.

It joins a consumer group, reads batches and hands each to a `BatchHandler`, then commits the
batch's offsets, only after the handler returned (its effects are durable by then). Failures:

- a `RetriableError` (database locked, Kafka unreachable) retries the whole batch with
  exponential backoff and jitter; no record is skipped;
- any other exception re-runs the batch one record at a time; a record that still fails is
  sent to `<topic>.dlq` with headers naming its origin and the error, and processing goes on;
- records a handler rejects itself (`Counts.rejected`) are dead-lettered the same way
  (to `dead_letter_topic` instead, when one is given).

Records of one partition are handed over in offset order, and one key always maps to one
partition, so per-key order is kept. On a rebalance, the revoked partitions' batch in hand is
finished and committed first. `run` returns when `stop` is set: it finishes the batch in hand,
commits, leaves the group and returns a `Summary`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar, runtime_checkable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from tenacity import RetryCallState

from gridhook.contract.codec import EncodedRecord
from gridhook.contract.errors import GridhookError, PermanentError, UnexpectedFailure
from gridhook.contract.retries import is_retriable, retrying
from gridhook.contract.settings import KafkaSettings
from gridhook.contract.topics import DLQ_SUFFIX
from gridhook.kafka import clients
from gridhook.kafka.consumer_metrics import ConsumerMetrics
from gridhook.kafka.publisher import Publisher
from gridhook.kafka.records import InboundRecord

log = logging.getLogger("gridhook.consumer")

RETRY_CAP = 10.0
"""Longest wait, in seconds, between two attempts at a batch that failed for a passing reason."""

T = TypeVar("T")


@dataclass
class Counts:
    """What a handler did with a batch."""

    applied: int = 0
    duplicates: int = 0
    rejected: list[tuple[InboundRecord, PermanentError]] = field(default_factory=list)


class BatchHandler(Protocol):
    """Applies a batch durably before returning; raises `RetriableError` to have it retried."""

    async def handle(self, records: Sequence[InboundRecord]) -> Counts: ...


@runtime_checkable
class RebalanceAware(Protocol):
    """A handler that wants to know which partitions it holds.

    `assigned` is called before the first batch of newly assigned partitions (and even when
    they hold no record), with the offset reading starts at on each: everything before it was
    handled by this group. `revoked` is called once the batch in hand is committed, before
    the partitions move to another member.
    """

    async def assigned(self, starts: dict[tuple[str, int], int]) -> None: ...

    async def revoked(self, partitions: list[tuple[str, int]]) -> None: ...


@dataclass
class Summary:
    """Totals of one `run`, logged as one line when the consumer stops."""

    records: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0

    def as_fields(self) -> dict[str, int]:
        return {
            "records": self.records,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
        }


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Makes a rebalance wait for the batch in hand to be applied and committed, then tells a
    `RebalanceAware` handler; remembers newly assigned partitions for the runtime to announce."""

    def __init__(self, lock: asyncio.Lock, handler: BatchHandler, metrics: ConsumerMetrics) -> None:
        self._lock = lock
        self._handler = handler
        self._metrics = metrics
        self.fresh: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            self.fresh.difference_update(revoked)
            for tp in revoked:
                self._metrics.forget_partition(tp.topic, tp.partition)
            if isinstance(self._handler, RebalanceAware) and revoked:
                await self._handler.revoked([(tp.topic, tp.partition) for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.fresh.update(assigned)
        log.info("partitions assigned", extra={"fields": {"count": len(assigned)}})


class ConsumerRuntime:
    """Runs one handler over the records of `topics` as member of `group_id`."""

    def __init__(
        self,
        *,
        bootstrap: str,
        kafka: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        dead_letters: Publisher,
        max_records: int = 500,
        metrics: ConsumerMetrics | None = None,
        dead_letter_topic: str | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._kafka = kafka
        self._group_id = group_id
        self._topics = list(topics)
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_records = max_records
        self._dead_letter_topic = dead_letter_topic
        self._in_hand = asyncio.Lock()
        self.summary = Summary()
        self.metrics = metrics or ConsumerMetrics(group_id)

    async def run(self, stop: asyncio.Event) -> Summary:
        """Consume until `stop` is set; return the totals."""
        listener = _FinishBeforeRevoke(self._in_hand, self._handler, self.metrics)
        async with clients.consumer(
            self._bootstrap,
            self._topics,
            listener,
            client_id=f"{self._kafka.client_id}-{self._group_id}",
            group_id=self._group_id,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self._max_records,
        ) as consumer:  # leaving it commits nothing more and leaves the group
            while not stop.is_set():
                fetch = asyncio.ensure_future(
                    consumer.getmany(timeout_ms=1000, max_records=self._max_records)
                )
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not fetch.done():
                    fetch.cancel()
                    break
                batches = fetch.result()
                if listener.fresh:
                    async with self._in_hand:
                        await self._announce(consumer, listener, batches, stop)
                if batches:
                    async with self._in_hand:
                        if not await self._process(consumer, batches, stop):
                            break
        return self.summary

    async def _announce(
        self,
        consumer: AIOKafkaConsumer,
        listener: _FinishBeforeRevoke,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        stop: asyncio.Event,
    ) -> None:
        """Tell a `RebalanceAware` handler where reading starts on its new partitions: the
        first record fetched, or the consumer's position where none was."""
        fresh, listener.fresh = set(listener.fresh), set()
        handler = self._handler
        if not isinstance(handler, RebalanceAware):
            return
        starts = {}
        for tp in fresh:
            records = batches.get(tp)
            if records:
                starts[(tp.topic, tp.partition)] = records[0].offset
            else:
                async with clients.translated():
                    starts[(tp.topic, tp.partition)] = await consumer.position(tp)
        await self._retrying(lambda: handler.assigned(starts), stop)

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        stop: asyncio.Event,
    ) -> bool:
        """Handle and commit one batch; False when stopped before it could be applied."""
        records = [
            InboundRecord.of(message) for messages in batches.values() for message in messages
        ]
        started = time.perf_counter()
        try:
            counts = await self._retrying(lambda: self._handle_isolating(records), stop)
        except GridhookError as error:
            log.warning(
                "stopped while the batch could not be applied; it will be read again",
                extra={"fields": {"error": type(error).__name__}},
            )
            return False
        if counts.rejected:
            # Concurrently: a flood of bad records must not crawl. The DLQ is at least once.
            await self._retrying(partial(self._dead_letter_all, counts.rejected), stop)
        self.summary.records += len(records)
        self.summary.applied += counts.applied
        self.summary.duplicates += counts.duplicates
        self.summary.dead_lettered += len(counts.rejected)
        offsets = {partition: messages[-1].offset + 1 for partition, messages in batches.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The partitions moved to another member, which reads them again from the last
            # commit; the store skips what this batch already applied.
            log.warning("commit refused after a rebalance", extra={"fields": {"error": str(error)}})
        self._observe(consumer, records, counts, offsets, time.perf_counter() - started)
        return True

    def _observe(
        self,
        consumer: AIOKafkaConsumer,
        records: list[InboundRecord],
        counts: Counts,
        offsets: dict[TopicPartition, int],
        seconds: float,
    ) -> None:
        by_topic: dict[str, int] = {}
        for record in records:
            by_topic[record.topic] = by_topic.get(record.topic, 0) + 1
        dead: dict[str, int] = {}
        for record, _ in counts.rejected:
            dead[record.topic] = dead.get(record.topic, 0) + 1
        self.metrics.handled(by_topic, counts.applied, counts.duplicates, dead)
        self.metrics.batch_seconds.labels(self._group_id).observe(seconds)
        for tp, next_offset in offsets.items():
            end = consumer.highwater(tp)
            if end is not None:
                self.metrics.behind(tp.topic, tp.partition, end - next_offset)

    def _before_retry(self, state: RetryCallState) -> None:
        self.metrics.retries.labels(self._group_id).inc()
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying after a passing failure",
            extra={
                "fields": {
                    "attempt": state.attempt_number,
                    "error": type(error).__name__ if error else "",
                }
            },
        )

    async def _retrying(self, operation: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T:
        """Run `operation`, retrying retriable errors with backoff until it succeeds or `stop`."""
        async for attempt in retrying(
            RETRY_CAP, stop=lambda state: stop.is_set(), before_sleep=self._before_retry
        ):
            with attempt:
                return await operation()
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _handle_isolating(self, records: Sequence[InboundRecord]) -> Counts:
        """The whole batch at once; after a non-retriable failure, one record at a time."""
        try:
            return await self._handler.handle(records)
        except Exception as error:
            if is_retriable(error) or len(records) == 1:
                raise
            log.warning(
                "batch failed; isolating the failing record",
                extra={"fields": {"records": len(records), "error": type(error).__name__}},
            )
        total = Counts()
        for record in records:
            try:
                counts = await self._handler.handle([record])
            except Exception as failure:
                if is_retriable(failure):
                    raise
                counts = Counts(rejected=[(record, _as_permanent(failure))])
            total.applied += counts.applied
            total.duplicates += counts.duplicates
            total.rejected.extend(counts.rejected)
        return total

    async def _dead_letter_all(self, rejected: list[tuple[InboundRecord, PermanentError]]) -> None:
        await asyncio.gather(*(self._dead_letter(record, error) for record, error in rejected))

    async def _dead_letter(self, record: InboundRecord, error: PermanentError) -> None:
        topic = self._dead_letter_topic or record.topic + DLQ_SUFFIX
        await self._dead_letters.publish(topic, dead_letter(record, error))
        log.error(
            "record dead-lettered",
            extra={
                "fields": {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": type(error).__name__,
                }
            },
        )


def dead_letter(record: InboundRecord, error: GridhookError) -> EncodedRecord:
    """The `<topic>.dlq` record for `record`: its key, value and headers, plus its origin and
    the error (class and message; messages never quote record content)."""
    headers = [
        *record.headers,
        ("dlq_topic", record.topic.encode()),
        ("dlq_partition", str(record.partition).encode()),
        ("dlq_offset", str(record.offset).encode()),
        ("dlq_error_class", type(error).__name__.encode()),
        ("dlq_error_message", str(error).encode()[:1000]),
    ]
    return EncodedRecord(key=record.key or b"", value=record.value or b"", headers=headers)


def _as_permanent(error: BaseException) -> PermanentError:
    if isinstance(error, PermanentError):
        return error
    # Only the class name: a foreign exception's message may quote the record's content.
    return UnexpectedFailure(f"handler raised {type(error).__name__}")
