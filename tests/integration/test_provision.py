"""`topics ensure` against the real broker."""

from __future__ import annotations

import uuid

from aiokafka import TopicPartition

from gridhook.contract.topics import Topic
from gridhook.kafka import clients
from gridhook.kafka.provision import ensure_topics, list_topics


async def test_ensure_is_idempotent_and_complete(kafka: str) -> None:
    """After ensure every catalogue topic exists; a second run creates nothing, sees no drift."""
    report = await ensure_topics(kafka)
    assert report.created == ()
    assert report.drift == ()
    topics, states = await list_topics(kafka)
    for topic in topics:
        assert states[topic.name].partitions == topic.partitions


async def test_drift_is_reported_not_repaired(kafka: str) -> None:
    """A topic whose partitions and config differ is listed as drift and left as it is."""
    name = f"drift-{uuid.uuid4().hex[:8]}"
    original = Topic(name, "k", "d", 2, (), {"retention.ms": "1000"})
    created = await ensure_topics(kafka, 1, [original])
    assert created.created == (name,)
    changed = Topic(name, "k", "d", 3, (), {"retention.ms": "2000"})
    report = await ensure_topics(kafka, 1, [changed])
    assert report.created == ()
    described = {(d.setting, d.expected, d.actual) for d in report.drift}
    assert described == {("partitions", "3", "2"), ("retention.ms", "2000", "1000")}
    again = await ensure_topics(kafka, 1, [changed])
    assert len(again.drift) == 2


async def test_created_topics_are_readable_when_ensure_returns(kafka: str) -> None:
    """A client that asks for metadata right after ensure returns finds every partition of
    the topics it created, each with a leader."""
    names = [f"fresh-{uuid.uuid4().hex[:8]}" for _ in range(8)]
    report = await ensure_topics(kafka, 1, [Topic(n, "k", "d", 6, (), {}) for n in names])
    assert report.created == tuple(sorted(names))
    async with clients.consumer(kafka, group_id=None) as consumer:
        assert await consumer._client.force_metadata_update()
        for name in names:
            assert consumer.partitions_for_topic(name) == set(range(6))
            assert all(
                consumer._client.cluster.leader_for_partition(TopicPartition(name, p)) is not None
                for p in range(6)
            )
