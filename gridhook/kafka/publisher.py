"""Writing records to Kafka behind a narrow interface.

`Publisher` is what the ingress, the consumers and replay depend on. `KafkaPublisher` is the
aiokafka implementation (idempotent producer, `acks=all`, compression, batching);
Its in-memory twin for unit tests is `tests.support.fakes.InMemoryPublisher`. Both raise
only gridhook errors.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

from gridhook.contract.codec import EncodedRecord
from gridhook.contract.errors import BrokerUnavailable, PublishTimeout
from gridhook.contract.settings import KafkaSettings
from gridhook.kafka.errors import translate


@dataclass(frozen=True)
class Delivery:
    """Where Kafka stored an acknowledged record."""

    topic: str
    partition: int
    offset: int


class BulkPublisher(Protocol):
    """Publishes many records at a time (replay's needs): `send_many` returns once Kafka has
    acknowledged them all."""

    async def start(self) -> None:
        """Connect; raise a `GridhookError` (retriable when Kafka is unreachable) on failure."""
        ...

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""
        ...

    async def send_many(self, topic: str, records: Sequence[EncodedRecord]) -> int:
        """Publish many records at once; return how many Kafka acknowledged."""
        ...


class Publisher(Protocol):
    """Publishes records; `publish` returns only once Kafka has acknowledged the record."""

    @property
    def ready(self) -> bool:
        """True once connected and able to publish."""
        ...

    async def start(self) -> None:
        """Connect; raise a `GridhookError` (retriable when Kafka is unreachable) on failure."""
        ...

    async def stop(self) -> None:
        """Flush what is in flight and disconnect."""
        ...

    async def publish(self, topic: str, record: EncodedRecord) -> Delivery:
        """Publish one record and wait for its acknowledgement."""
        ...

    async def send(self, topic: str, record: EncodedRecord) -> asyncio.Future[Delivery]:
        """Hand one record to the producer; the future resolves on Kafka's acknowledgement
        (or fails with a gridhook error), whether or not anyone still awaits it."""
        ...

    async def send_many(self, topic: str, records: Sequence[EncodedRecord]) -> int:
        """Publish many records at once; return how many Kafka acknowledged."""
        ...


def _settled(source: asyncio.Future[Any], target: asyncio.Future[Delivery]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.set_exception(PublishTimeout("the publish was cancelled"))
    elif (error := source.exception()) is not None:
        target.set_exception(translate(error))
    else:
        metadata = source.result()
        target.set_result(Delivery(metadata.topic, metadata.partition, metadata.offset))


@functools.lru_cache(maxsize=65_536)
def _key_slot(key: bytes, partition_count: int) -> int:
    """Which of `partition_count` partitions Kafka's default partitioner gives `key` (cached:
    murmur2 is pure Python, and replayed keys repeat)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partition_count


STOP_SECONDS = 5.0
log = logging.getLogger("gridhook.kafka")


class KafkaPublisher:
    """The aiokafka `Publisher`: idempotent, `acks=all`, compressed, batched."""

    def __init__(self, settings: KafkaSettings, bootstrap_servers: str) -> None:
        self._settings = settings
        self._bootstrap_servers = bootstrap_servers
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._settings.client_id,
            acks="all",
            enable_idempotence=True,
            compression_type=None
            if self._settings.compression == "none"
            else self._settings.compression,
            linger_ms=self._settings.linger_ms,
            max_batch_size=256 * 1024,
            max_request_size=2 * 1024 * 1024,
            request_timeout_ms=30_000,
        )
        try:
            await producer.start()
        except Exception as exc:
            await producer.stop()
            raise translate(exc) from exc
        self._producer = producer

    async def stop(self) -> None:
        """Flush and disconnect, for at most `STOP_SECONDS`: records Kafka has not acknowledged
        by then are not (their senders were answered 503)."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await producer.stop()
        except TimeoutError:
            log.warning("kafka producer did not flush in time; closed without it")

    async def publish(self, topic: str, record: EncodedRecord) -> Delivery:
        return await (await self.send(topic, record))

    async def send_many(self, topic: str, records: Sequence[EncodedRecord]) -> int:
        """Publish many records in per-partition batches (for bulk work such as replay); return
        how many Kafka acknowledged. Keys go to the partitions `send` would choose."""
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("the Kafka producer is not connected")
        try:
            partitions = sorted(await producer.partitions_for(topic))
            by_partition: dict[int, list[EncodedRecord]] = {}
            for record in records:
                partition = (
                    partitions[_key_slot(record.key, len(partitions))]
                    if record.key
                    else self._partitioner(record.key, partitions, partitions)
                )
                by_partition.setdefault(partition, []).append(record)
            acknowledgements = []
            for partition, batch_records in by_partition.items():
                batch = producer.create_batch()
                for record in batch_records:
                    if (
                        batch.append(
                            key=record.key,
                            value=record.value,
                            timestamp=None,
                            headers=record.headers,
                        )
                        is None
                    ):
                        acknowledgements.append(
                            await producer.send_batch(batch, topic, partition=partition)
                        )
                        batch = producer.create_batch()
                        batch.append(
                            key=record.key,
                            value=record.value,
                            timestamp=None,
                            headers=record.headers,
                        )
                acknowledgements.append(
                    await producer.send_batch(batch, topic, partition=partition)
                )
            await asyncio.gather(*acknowledgements)
        except Exception as exc:
            raise translate(exc) from exc
        return len(records)

    async def send(self, topic: str, record: EncodedRecord) -> asyncio.Future[Delivery]:
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("the Kafka producer is not connected")
        try:
            acknowledged = await producer.send(
                topic, value=record.value, key=record.key, headers=record.headers
            )
        except Exception as exc:
            raise translate(exc) from exc
        delivery: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        acknowledged.add_done_callback(lambda done: _settled(done, delivery))
        return delivery
