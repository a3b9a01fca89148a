"""Writing records to Kafka behind a narrow interface.

`Publisher` is what the ingress, the consumers and replay depend on. `KafkaPublisher` is the
aiokafka implementation (idempotent producer, `acks=all`, compression, batching);
`InMemoryPublisher` keeps records in a list for unit tests. Both raise only gridhook errors.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaProducer

from gridhook.errors import BrokerUnavailable, GridhookError
from gridhook.settings import KafkaSettings
from producers.codec import EncodedRecord
from producers.kafka_errors import translate


@dataclass(frozen=True)
class Delivery:
    """Where Kafka stored an acknowledged record."""

    topic: str
    partition: int
    offset: int


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


class KafkaPublisher:
    """The aiokafka `Publisher`: idempotent, `acks=all`, compressed, batched."""

    def __init__(self, settings: KafkaSettings, bootstrap_servers: str) -> None:
        self._settings = settings
        self._bootstrap_servers = bootstrap_servers
        self._producer: AIOKafkaProducer | None = None

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
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, topic: str, record: EncodedRecord) -> Delivery:
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("the Kafka producer is not connected")
        try:
            metadata = await producer.send_and_wait(
                topic, value=record.value, key=record.key, headers=record.headers
            )
        except GridhookError:
            raise
        except Exception as exc:
            raise translate(exc) from exc
        return Delivery(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)


@dataclass
class InMemoryPublisher:
    """A `Publisher` for unit tests: keeps what it published; can be told to fail or stall."""

    records: list[tuple[str, EncodedRecord]] = field(default_factory=list)
    failure: GridhookError | None = None
    stall: asyncio.Event | None = None
    started: bool = False

    @property
    def ready(self) -> bool:
        return self.started

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, topic: str, record: EncodedRecord) -> Delivery:
        if self.stall is not None:
            await self.stall.wait()
        if self.failure is not None:
            raise self.failure
        self.records.append((topic, record))
        offset = sum(1 for published, _ in self.records if published == topic) - 1
        return Delivery(topic=topic, partition=0, offset=offset)

    def published(self, topic: str) -> list[EncodedRecord]:
        """The records published to `topic`, in order."""
        return [record for published, record in self.records if published == topic]
