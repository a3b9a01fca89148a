"""`ConfluentPublisher`: a `BulkPublisher` on librdkafka (confluent-kafka), for replay.

Replay republishes hundreds of thousands of records; aiokafka builds and compresses each batch
in Python, librdkafka in C. Same guarantees as `KafkaPublisher`: idempotent, `acks=all`, the
configured compression, and keys on the partitions Kafka's Java client (and aiokafka) would
choose (`murmur2_random`), so a replayed key keeps its partition. Delivery reports are served
by one polling thread (failures only); errors are gridhook's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from gridhook.contract.codec import EncodedRecord
from gridhook.contract.errors import BrokerUnavailable, GridhookError, PublishTimeout
from gridhook.contract.settings import KafkaSettings
from gridhook.kafka.publisher import STOP_SECONDS

_POLL_SECONDS = 0.05
_LIBRDKAFKA_LOG = logging.getLogger("gridhook.kafka.librdkafka")


def _error(error: KafkaError) -> GridhookError:
    if error.code() == KafkaError._MSG_TIMED_OUT:
        return PublishTimeout("Kafka did not acknowledge the record in time")
    return BrokerUnavailable(f"Kafka refused the record: {error.name()}")


class ConfluentPublisher:
    """The librdkafka `BulkPublisher`: idempotent, `acks=all`, compressed in C."""

    def __init__(self, settings: KafkaSettings, bootstrap_servers: str) -> None:
        self._settings = settings
        self._bootstrap_servers = bootstrap_servers
        self._producer: Producer | None = None
        self._polling = threading.Event()
        self._poller: threading.Thread | None = None
        self._flush_timeout = 90.0  # beyond message.timeout.ms: librdkafka fails them first

    async def start(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self._bootstrap_servers,
                "client.id": self._settings.client_id,
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": self._settings.compression,
                "linger.ms": max(self._settings.linger_ms, 5),
                "batch.size": 1024 * 1024,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1024 * 1024,
                "message.timeout.ms": 60_000,
                "delivery.report.only.error": True,
                "logger": _LIBRDKAFKA_LOG,  # into gridhook's logs, not raw on stderr
            }
        )
        loop = asyncio.get_running_loop()
        try:  # fails fast when no broker answers
            await loop.run_in_executor(None, lambda: producer.list_topics(timeout=10))
        except KafkaException as exc:
            raise BrokerUnavailable(f"Kafka is not reachable: {exc.args[0].name()}") from None
        self._producer = producer
        self._polling.set()
        self._poller = threading.Thread(target=self._poll, name="librdkafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        producer = self._producer
        while producer is not None and self._polling.is_set():
            producer.poll(_POLL_SECONDS)

    async def stop(self) -> None:
        """Flush for at most `STOP_SECONDS`, then stop polling."""
        producer = self._producer
        if producer is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, producer.flush, STOP_SECONDS)
        self._polling.clear()
        if self._poller is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._poller.join)
        self._producer = None

    async def send_many(self, topic: str, records: Sequence[EncodedRecord]) -> int:
        """Hand every record to librdkafka, then wait until it has no record left unacknowledged;
        how many Kafka acknowledged (a failure raises the first error). librdkafka reports only
        failures (`delivery.report.only.error`): a Python callback per acknowledged record would
        cost the replay loop more than building the record."""
        failures: list[KafkaError] = []

        def failed(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error)

        for record in records:
            await self._produce(topic, record, failed)
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("the Kafka producer is not connected")
        left = await asyncio.get_running_loop().run_in_executor(
            None, producer.flush, self._flush_timeout
        )
        if failures:
            raise _error(failures[0])
        if left:
            raise PublishTimeout(f"Kafka did not acknowledge {left} records in time")
        return len(records)

    async def _produce(self, topic: str, record: EncodedRecord, delivered: Any) -> None:
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("the Kafka producer is not connected")
        while True:
            try:
                headers = cast("list[tuple[str, str | bytes | None]]", record.headers)
                producer.produce(
                    topic, record.value, record.key, headers=headers, on_delivery=delivered
                )
                return
            except BufferError:  # librdkafka's queue is full: let the poller drain it
                await asyncio.sleep(_POLL_SECONDS)
            except KafkaException as exc:
                raise _error(exc.args[0]) from None
