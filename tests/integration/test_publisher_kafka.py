"""The aiokafka publisher against the real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from gridhook.contract.codec import CloudEvent, decode, encode
from gridhook.contract.errors import BrokerUnavailable
from gridhook.contract.settings import KafkaSettings
from gridhook.kafka.publisher import KafkaPublisher
from tests.support.kafka import end_offsets, read_records


async def test_published_record_reads_back_identically(
    kafka: str, kafka_settings: KafkaSettings
) -> None:
    """Key, value bytes and CloudEvents headers come back exactly as published."""
    since = await end_offsets(kafka, "light.events")
    event = CloudEvent(
        id=f"msg_{uuid.uuid4().hex}",
        source="light",
        type="enrollment.plan_requested",
        time=datetime.now(UTC),
        key=b"acct-1",
        data=b'{"id": "evt_1",  "type": "enrollment.plan_requested"}',
    )
    publisher = KafkaPublisher(kafka_settings, kafka)
    await publisher.start()
    try:
        delivery = await publisher.publish("light.events", encode(event))
    finally:
        await publisher.stop()
    assert delivery.topic == "light.events"
    records = await read_records(
        kafka,
        "light.events",
        since,
        until=lambda rs: any(
            r.offset == delivery.offset and r.partition == delivery.partition for r in rs
        ),
    )
    (record,) = [
        r for r in records if r.partition == delivery.partition and r.offset == delivery.offset
    ]
    assert record.key == b"acct-1"
    assert record.value == event.data
    assert decode(record.key, record.value, record.headers) == event


async def test_start_against_nothing_is_broker_unavailable(kafka_settings: KafkaSettings) -> None:
    """No broker listening: start raises the retriable BrokerUnavailable."""
    publisher = KafkaPublisher(kafka_settings, "127.0.0.1:1")
    with pytest.raises(BrokerUnavailable) as raised:
        await publisher.start()
    assert raised.value.retriable
