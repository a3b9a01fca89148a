"""How far each partition of a topic reaches now: its end offset, behind a narrow interface.

The ingress asks it before refusing a bind, to know which customer syncs Kafka had accepted by
then (see `service.ingress.consistency`). `KafkaEndOffsets` asks the partition leaders with a
group-less consumer (its twin for unit tests: `tests.support.fakes.InMemoryEndOffsets`).
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from gridhook.contract.errors import BrokerUnavailable
from gridhook.kafka import snapshot
from gridhook.kafka.clients import close_within, translated


class EndOffsets(Protocol):
    """The end offset of every partition of a topic."""

    async def start(self) -> None:
        """Connect; raise a retriable `GridhookError` while Kafka is unreachable."""
        ...

    async def stop(self) -> None: ...

    async def of(self, topic: str) -> dict[int, int]:
        """Per partition of `topic`, the offset the next record will get."""
        ...


class KafkaEndOffsets:
    """End offsets read from the partition leaders (one ListOffsets request per call)."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=f"{self._client_id}-offsets",
            enable_auto_commit=False,
        )
        try:
            async with translated():
                await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await close_within(consumer.stop())

    async def of(self, topic: str) -> dict[int, int]:
        consumer = self._consumer
        if consumer is None:
            raise BrokerUnavailable("the Kafka offsets client is not connected")
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = await snapshot.partitions_of(consumer, topic)
        async with translated():
            ends = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}
