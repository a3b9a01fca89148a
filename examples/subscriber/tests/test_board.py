"""The board against a real Kafka broker (gridhook's embedded one, or KAFKA_BOOTSTRAP_SERVERS):
records published as gridhook publishes them reach the board once, the rest is skipped, and a
record it cannot decode lands on its dead-letter topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from installation_board.board import DEAD_LETTERS, INSTALLATION_EVENTS, LIGHT_EVENTS, Board

from gridhook.contract import schemas
from gridhook.contract.codec import EncodedRecord
from gridhook.contract.settings import Settings
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.kafka.provision import ensure_topics
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.subscriber import Event, encode_event, run

NOW = datetime.now(UTC)


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings.from_env()
    if settings.kafka.bootstrap_servers:
        yield settings.kafka.bootstrap_servers
        return
    broker = EmbeddedKafka(settings.home, tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.start(port=0, controller_port=0)
    finally:
        broker.stop()


@pytest.fixture
async def publish(bootstrap: str) -> AsyncIterator[Callable[[str, EncodedRecord], Awaitable[Any]]]:
    await ensure_topics(bootstrap)
    publisher = KafkaPublisher(Settings.from_env().kafka, bootstrap)
    await publisher.start()
    yield publisher.publish
    await publisher.stop()


def step(installation: str, name: str, status: str, minute: int) -> EncodedRecord:
    body = {
        "installationId": installation,
        "step": name,
        "status": status,
        "detail": None,
        "reason": None,
        "occurredAt": f"2026-12-06T14:{minute:02d}:00.000000Z",
    }
    return _record(
        f"{installation}:{minute}",
        "gridhook-installations",
        f"installation.{name}",
        installation,
        body,
    )


def light(account: str, event_type: str, finalized: bool) -> EncodedRecord:
    example = schemas.load("light/events/enrollment.finalized.json")["examples"][0]
    body = example | {"id": f"evt_{uuid.uuid4().hex}", "type": event_type}
    body["data"] = {
        **example["data"],
        "account": {
            **example["data"]["account"],
            "uuid": account,
            "enrollment": {"is_enrollment_finalized": finalized},
        },
    }
    return _record(body["id"], "light", event_type, account, body)


def _record(
    event_id: str, source: str, event_type: str, key: str, body: dict[str, Any]
) -> EncodedRecord:
    event = Event(
        id=event_id,
        source=source,
        type=event_type,
        time=NOW,
        tenant="default",
        key=key,
        body=body,
        schema=None,
    )
    record_key, value, headers = encode_event(event)
    return EncodedRecord(record_key, value, headers)


async def until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(board: Board, bootstrap: str, group: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    subscription = board.subscription()
    task = asyncio.create_task(
        run(
            type(subscription)(**{**subscription.__dict__, "group": group}),
            bootstrap=bootstrap,
            stop=stop,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def caught_up(bootstrap: str, group: str) -> bool:
    """Whether `group` committed every partition of the board's topics up to its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in (INSTALLATION_EVENTS, LIGHT_EVENTS)
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = await consumer.end_offsets(partitions)
        for partition in partitions:
            if (await consumer.committed(partition) or 0) < ends[partition]:
                return False
        return True
    finally:
        await consumer.stop()


async def dead_lettered(bootstrap: str, key: bytes) -> list[dict[str, bytes]]:
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[dict[str, bytes]] = []
        deadline = time.monotonic() + 60
        while not found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [dict(r.headers) for r in records if r.key == key]
        return found
    finally:
        await consumer.stop()


async def test_the_board_follows_installations_and_account_changes_once(
    bootstrap: str, publish: Callable[[str, EncodedRecord], Awaitable[Any]], tmp_path: Path
) -> None:
    """Steps and account changes reach the board; location events are skipped; a record
    without CloudEvents headers is dead-lettered with its origin; a second group reading the
    same records again (a replay) changes nothing on the board."""
    installation, account = f"inst-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    broken = f"broken-{uuid.uuid4().hex[:8]}".encode()
    await publish(INSTALLATION_EVENTS, step(installation, "waiting", "waiting", 1))
    await publish(INSTALLATION_EVENTS, step(installation, "service_active", "service_active", 2))
    await publish(LIGHT_EVENTS, light(account, "account.payment_method_added", False))
    await publish(LIGHT_EVENTS, light(account, "location.service_active", False))
    await publish(LIGHT_EVENTS, light(account, "enrollment.finalized", True))
    await publish(LIGHT_EVENTS, EncodedRecord(broken, b"{}", []))

    board = Board(tmp_path / "board.db")

    async def account_changed_twice() -> bool:
        found = board.account(account)
        return found is not None and found.changes == 2

    async def installation_stepped_twice() -> bool:
        found = board.installation(installation)
        return found is not None and found.steps == 2

    try:
        async with running(board, bootstrap, f"board-{uuid.uuid4().hex[:8]}"):
            await until(account_changed_twice, 60, "the account's two changes")
            await until(installation_stepped_twice, 60, "the installation's two steps")
        state = board.installation(installation), board.account(account)
        assert state[0] is not None
        assert (state[0].step, state[0].status) == ("service_active", "service_active")
        assert state[1] is not None
        assert (state[1].last_change, state[1].enrollment_finalized) == (
            "enrollment.finalized",
            True,
        )

        headers = await dead_lettered(bootstrap, broken)
        assert headers[0]["dlq_topic"] == LIGHT_EVENTS.encode()
        assert headers[0]["dlq_error_class"] == b"InvalidRecord"

        replay = f"replay-{uuid.uuid4().hex[:8]}"
        async with running(board, bootstrap, replay):
            await until(lambda: caught_up(bootstrap, replay), 60, "the replay to catch up")
        assert (board.installation(installation), board.account(account)) == state
    finally:
        board.close()
