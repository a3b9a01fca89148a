"""`gridhook replay` and `gridhook state rebuild` against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer, ConsumerRecord

from consumers.applier import StateApplier
from gridhook.contract.codec import FIRST_PUBLISHED_AT, REPLAYED_FROM, CloudEvent, encode, header
from gridhook.contract.errors import UnapplicableEvent
from gridhook.contract.settings import KafkaSettings
from gridhook.contract.topics import Topic
from gridhook.kafka.consumer import ConsumerRuntime, Counts
from gridhook.kafka.provision import ensure_topics
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.kafka.records import InboundRecord
from gridhook.state.kinds import LIGHT_ACCOUNT
from gridhook.state.store import Store
from gridhook.state.transitions import APPLIED_TOPICS
from tests.support.kafka import (
    all_end_offsets,
    end_offsets,
    group_caught_up,
    group_has_members,
    publish_all,
    read_records,
)
from tests.support.light_payloads import light_record
from tests.support.processes import gridhook_process, run_gridhook
from tests.support.waiting import eventually

BASE = datetime(2026, 11, 1, tzinfo=UTC)
TYPES = ["enrollment.plan_requested", "enrollment.finalized", "account.payment_failed"]


async def source_topic(kafka: str, count: int = 60) -> tuple[str, list[CloudEvent]]:
    """A fresh 3-partition topic with `count` records: keys k0..k5, three types, and
    timestamps one minute apart from BASE."""
    name = f"replay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, 1, [Topic(name, "key", "test", 3, (), {})])
    events = [
        CloudEvent(
            id=f"e{n}",
            source="test",
            type=TYPES[n % 3],
            time=BASE + timedelta(minutes=n),
            key=f"k{n % 6}".encode(),
            data=f'{{"n": {n}}}'.encode(),
        )
        for n in range(count)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for event in events:
            encoded = encode(event)
            await producer.send_and_wait(
                name,
                value=encoded.value,
                key=encoded.key,
                headers=encoded.headers,
                timestamp_ms=int(event.time.timestamp() * 1000),
            )
    finally:
        await producer.stop()
    return name, events


def env(kafka: str) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": kafka, "GRIDHOOK_LOG_FORMAT": "json"}


async def everything(kafka: str, topic: str, expected: int) -> list[ConsumerRecord]:
    zeros = dict.fromkeys(await end_offsets(kafka, topic), 0)
    return await read_records(kafka, topic, zeros, until=lambda rs: len(rs) >= expected)


async def replay_into_new_topic(kafka: str, source: str, *selectors: str) -> list[ConsumerRecord]:
    target = f"{source}-out-{uuid.uuid4().hex[:4]}"
    await ensure_topics(kafka, 1, [Topic(target, "key", "test", 3, (), {})])
    done = await run_gridhook(["replay", source, *selectors, "--to-topic", target], env(kafka))
    assert done.returncode == 0, done.stderr
    sent = int(done.stdout.split(" sent ")[1].split()[0])
    records = await everything(kafka, target, sent)
    assert len(records) == sent
    return records


def ids(records: list[ConsumerRecord]) -> set[str]:
    return {(header(r.headers, "ce_id") or b"").decode() for r in records}


async def test_each_selector_picks_exactly_its_records(kafka: str) -> None:
    """--key, --type, --since/--until, offsets and --limit, alone and combined."""
    source, events = await source_topic(kafka)
    by_key = await replay_into_new_topic(kafka, source, "--key", "k1")
    assert ids(by_key) == {e.id for e in events if e.key == b"k1"}
    by_type = await replay_into_new_topic(kafka, source, "--type", "enrollment.*")
    assert ids(by_type) == {e.id for e in events if e.type.startswith("enrollment.")}
    window = await replay_into_new_topic(
        kafka, source, "--since", "2026-11-01T00:10:00Z", "--until", "2026-11-01T00:19:00Z"
    )
    assert ids(window) == {f"e{n}" for n in range(10, 20)}
    combined = await replay_into_new_topic(
        kafka, source, "--type", "account.*", "--since", "2026-11-01T00:30:00Z", "--key", "k5"
    )
    assert ids(combined) == {
        e.id for e in events[30:] if e.type.startswith("account.") and e.key == b"k5"
    }
    limited = await replay_into_new_topic(kafka, source, "--limit", "7")
    assert len(limited) == 7


async def test_offset_selectors_are_per_partition_and_inclusive(kafka: str) -> None:
    """Bounds apply to the partitions they name; a partition without bounds is read whole."""
    source, _ = await source_topic(kafka)
    originals = await everything(kafka, source, 60)
    chosen = await replay_into_new_topic(
        kafka,
        source,
        "--from-offset",
        "0:2,1:5",
        "--to-offset",
        "0:4,1:5,2:-1".replace(",2:-1", ""),
    )
    expected = {
        (header(r.headers, "ce_id") or b"").decode()
        for r in originals
        if (r.partition == 0 and 2 <= r.offset <= 4)
        or (r.partition == 1 and r.offset == 5)
        or (r.partition == 2)
    }
    assert ids(chosen) == expected


async def test_replayed_records_keep_key_value_headers_and_name_their_origin(kafka: str) -> None:
    """Each copy has the original's key, value and headers, plus topic/partition/offset where
    it was read, and where it was first published."""
    source, _ = await source_topic(kafka, count=6)
    originals = {(header(r.headers, "ce_id") or b""): r for r in await everything(kafka, source, 6)}
    for copy in await replay_into_new_topic(kafka, source):
        original = originals[header(copy.headers, "ce_id") or b""]
        assert (copy.key, copy.value) == (original.key, original.value)
        assert copy.headers[:-2] == original.headers
        position = f"{source}/{original.partition}/{original.offset}".encode()
        assert copy.headers[-2:] == ((REPLAYED_FROM, position), (FIRST_PUBLISHED_AT, position))


async def test_dry_run_prints_and_sends_nothing(kafka: str) -> None:
    """One line per selected record (partition, offset, time, type, key); nothing is sent."""
    source, events = await source_topic(kafka, count=12)
    before = await end_offsets(kafka, source)
    done = await run_gridhook(["replay", source, "--key", "k2", "--dry-run"], env(kafka))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == sum(1 for e in events if e.key == b"k2")
    partition, offset, moment, event_type, key = lines[0].split("\t")
    assert (partition.isdigit(), offset.isdigit(), key) == (True, True, "k2")
    assert event_type in TYPES
    assert moment.startswith("2026-11-01T")
    assert "would send" in done.stderr
    assert await end_offsets(kafka, source) == before


async def test_replaying_a_topic_into_itself_terminates_with_exactly_the_selection(
    kafka: str,
) -> None:
    """The snapshot excludes what the replay itself appends: no loop, no extra records."""
    source, events = await source_topic(kafka, count=30)
    done = await run_gridhook(["replay", source, "--rate", "500"], env(kafka))
    assert done.returncode == 0, done.stderr
    records = await everything(kafka, source, 60)
    assert len(records) == 60
    replayed = [r for r in records if header(r.headers, REPLAYED_FROM)]
    assert sorted(ids(replayed)) == sorted(e.id for e in events)


async def test_errors_exit_non_zero_with_a_message(kafka: str) -> None:
    """Missing topic, unreachable broker, bad arguments: non-zero exit, a message, no trace."""
    missing = await run_gridhook(["replay", "no-such-topic-here"], env(kafka))
    assert missing.returncode != 0
    assert "no-such-topic-here does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    unreachable = await run_gridhook(
        ["replay", "light.events"], {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    )
    assert unreachable.returncode != 0
    assert "Kafka is not reachable" in unreachable.stderr
    bad = await run_gridhook(["replay", "light.events", "--since", "last tuesday"], env(kafka))
    assert bad.returncode != 0
    assert "not a time" in bad.stderr


class FailsOnPayments:
    """The state applier with a bug: it cannot apply one account's payment events."""

    def __init__(self, store: Store, account: str, broken: bool) -> None:
        self._applier = StateApplier(store)
        self._account = account.encode()
        self.broken = broken

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        if self.broken and any(
            r.key == self._account and header(r.headers, "ce_type") == b"account.payment_failed"
            for r in records
        ):
            if len(records) == 1:
                raise UnapplicableEvent("payment events are not supported (a bug)")
            raise UnapplicableEvent("batch holds a payment event")
        return await self._applier.handle(records)


async def run_until_caught_up(
    kafka: str, settings: KafkaSettings, group: str, handler: FailsOnPayments, topics: list[str]
) -> None:
    ends = await all_end_offsets(kafka, topics)
    publisher = KafkaPublisher(settings, kafka)
    await publisher.start()
    stop = asyncio.Event()
    runtime = ConsumerRuntime(
        bootstrap=kafka,
        kafka=settings,
        group_id=group,
        topics=topics,
        handler=handler,
        dead_letters=publisher,
    )
    task = asyncio.create_task(runtime.run(stop))
    try:
        await eventually(
            lambda: group_caught_up(kafka, group, ends), 60, "the consumer to catch up"
        )
    finally:
        stop.set()
        await task
        await publisher.stop()


async def test_dead_lettered_record_is_applied_after_a_fix_and_a_dlq_replay(
    kafka: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """A buggy handler dead-letters a payment event; after the fix, `replay --dlq` sends it
    back and it is applied; replaying what was applied changes nothing."""
    account = f"acct-replay-{uuid.uuid4().hex[:8]}"
    events = [
        light_record(account, event_type)
        for event_type in ("enrollment.plan_requested", "account.payment_failed")
    ]
    await publish_all(kafka, kafka_settings, "light.events", events)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}", writer=True)
    await store.migrate()
    group = f"replay-{uuid.uuid4().hex[:8]}"
    handler = FailsOnPayments(store, account, broken=True)
    try:
        dlq_since = await end_offsets(kafka, "light.events.dlq")
        await run_until_caught_up(kafka, kafka_settings, group, handler, ["light.events"])
        entity = await store.entity(LIGHT_ACCOUNT, account)
        assert entity is not None
        assert "last_payment" not in entity.facts
        dead = await read_records(
            kafka,
            "light.events.dlq",
            dlq_since,
            until=lambda rs: any(r.key == account.encode() for r in rs),
        )
        assert any(r.key == account.encode() for r in dead)

        handler.broken = False
        done = await run_gridhook(["replay", "light.events", "--dlq", "--key", account], env(kafka))
        assert done.returncode == 0, done.stderr
        assert "(light.events: 1)" in done.stdout
        await run_until_caught_up(kafka, kafka_settings, group, handler, ["light.events"])
        entity = await store.entity(LIGHT_ACCOUNT, account)
        assert entity is not None
        assert entity.facts["last_payment"].value == "failed"

        applied = await store.applied_count()
        again = await run_gridhook(["replay", "light.events", "--key", account], env(kafka))
        assert again.returncode == 0, again.stderr
        await run_until_caught_up(kafka, kafka_settings, group, handler, ["light.events"])
        assert await store.applied_count() == applied
    finally:
        await store.close()


async def test_state_rebuild_reproduces_the_same_state(
    kafka: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Rebuilding from the topics gives exactly the state the applier had built."""
    account = f"acct-rebuild-{uuid.uuid4().hex[:8]}"
    events = [light_record(account, event_type) for event_type in TYPES]
    await publish_all(kafka, kafka_settings, "light.events", events)
    database = tmp_path / "state.db"
    group = f"rebuild-{uuid.uuid4().hex[:8]}"
    environment = env(kafka) | {"GRIDHOOK_DATABASE_URL": f"sqlite:///{database}"}
    ends = await all_end_offsets(kafka, list(APPLIED_TOPICS))
    async with gridhook_process(
        ["consume", "state", "--group", group], environment, tmp_path / "state.log"
    ):
        await eventually(
            lambda: group_caught_up(kafka, group, ends), 120, "the applier to catch up"
        )
        await eventually(
            lambda: group_has_members(kafka, group), 60, "the applier to join its group"
        )
        busy = await run_gridhook(["state", "rebuild", "--yes", "--group", group], environment)
        assert busy.returncode != 0
        assert "stop the state applier" in busy.stderr
    store = Store(f"sqlite:///{database}")
    try:
        before, applied = await store.snapshot(), await store.applied_count()
        assert before, "the applier built some state"
        refused = await run_gridhook(["state", "rebuild", "--group", group], environment)
        assert refused.returncode != 0
        assert "--yes" in refused.stderr
        done = await run_gridhook(
            ["state", "rebuild", "--yes", "--group", group], environment, deadline=300
        )
        assert done.returncode == 0, done.stderr
        assert "state rebuilt" in done.stdout
        assert await store.snapshot() == before
        assert await store.applied_count() == applied
    finally:
        await store.close()
