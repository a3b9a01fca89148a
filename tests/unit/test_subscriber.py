"""The subscriber kit without a broker: typed decoding, the typed bodies against the schemas,
and a subscription's handling of a batch (skip, dedup, dead letters, effectively once)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from gridhook.contract import schemas
from gridhook.contract.codec import CloudEvent, encode
from gridhook.contract.errors import InvalidRecord
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.dev.typed_bodies import generate, message_paths
from gridhook.kafka.records import InboundRecord
from gridhook.subscriber import (
    Event,
    InMemorySeenEvents,
    SqliteSeenEvents,
    Subscription,
    TraceContext,
    bodies,
    body_of,
    decode_event,
    encode_event,
    schema_of,
)
from gridhook.subscriber.subscription import _Handling

AT = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)


def schema_examples() -> list[tuple[str, dict[str, Any]]]:
    return [(path, body) for path in message_paths() for body in schemas.load(path)["examples"]]


def example_files() -> list[Path]:
    return sorted((PROJECT_ROOT / "examples").glob("*/*.json"))


def event_of(body: dict[str, Any], **overrides: Any) -> Event[Any]:
    attributes: dict[str, Any] = {
        "id": "evt-1",
        "source": "light",
        "type": "enrollment.finalized",
        "time": AT,
        "tenant": "default",
        "key": "acct-1",
        "body": body,
        "schema": "light/events/enrollment.finalized.json",
        "topic": "light.events",
        "partition": 0,
        "offset": 0,
    }
    return Event(**(attributes | overrides))


def test_every_event_schema_has_an_example_it_accepts() -> None:
    """Each schema of a published event carries at least one example, valid against it."""
    for path in message_paths():
        examples = schemas.load(path).get("examples")
        assert examples, f"{path} has no example"
        for example in examples:
            assert schemas.validator(path).is_valid(example), path


@pytest.mark.parametrize(("path", "body"), schema_examples())
def test_a_schema_example_round_trips_through_the_decoder(path: str, body: dict[str, Any]) -> None:
    """encode_event then decode_event gives back the same event, body and attributes."""
    topic = next(t.name for t in _topics() if path in _paths(t.messages))
    event = event_of(
        body,
        type=schemas.load(path)["title"],
        topic=topic,
        schema=schema_of(topic, schemas.load(path)["title"]),
        trace=TraceContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "v=1"),
        tenant="gridco",
        extensions={"gridhook_first_published_at": f"{topic}/0/7"},
    )
    key, value, headers = encode_event(event)
    assert decode_event(topic, key, value, headers, partition=0, offset=0) == event


EXAMPLE_TOPICS = {
    "installations/installation.json": ("gridhook.installations", "installation.created"),
    "light/enrollment.plan_accepted.json": ("light.events", "enrollment.plan_accepted"),
    "powerbox/bind.json": ("powerbox.bind.requests", "powerbox.bind.requested"),
    "powerbox/customer.json": ("powerbox.customers", "powerbox.customer.synced"),
}
"""The example bodies that are events, and where gridhook publishes them; the others
(`light/account.json`, the Light emulator's account set-up) are decoded as plain bodies."""


@pytest.mark.parametrize("file", example_files(), ids=lambda file: file.name)
def test_an_example_body_under_examples_round_trips(file: Path) -> None:
    """Every body under examples/ decodes back to itself, unknown fields and all, with the
    schema of the topic it goes to, which accepts it."""
    body = orjson.loads(file.read_bytes())
    name = file.relative_to(PROJECT_ROOT / "examples").as_posix()
    topic, event_type = EXAMPLE_TOPICS.get(name, ("partner.bodies", "example"))
    schema = schema_of(topic, event_type)
    event = event_of(body, schema=schema, topic=topic, type=event_type)
    assert decode_event(topic, *encode_event(event), partition=0, offset=0) == event
    if name in EXAMPLE_TOPICS:
        assert schema is not None
        assert schemas.validator(schema).is_valid(body), name


def test_a_record_as_gridhook_writes_it_decodes_with_its_tenant_and_trace() -> None:
    """ce_* headers become attributes, ce_tenant the tenant (default when absent), unknown
    body fields are kept, and the Light type picks its own schema and TypedDict."""
    body = schemas.load("light/events/enrollment.finalized.json")["examples"][0]
    record = encode(
        CloudEvent(
            id="evt-9",
            source="light",
            type="enrollment.finalized",
            time=AT,
            key=b"acct-9",
            data=orjson.dumps(body | {"added_by_light_later": 1}),
            extensions=(
                ("ce_traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            ),
        )
    )
    event = decode_event("light.events", record.key, record.value, record.headers)
    assert (event.id, event.tenant, event.key) == ("evt-9", "default", "acct-9")
    assert event.trace is not None
    assert event.trace.tracestate is None
    assert event.body["added_by_light_later"] == 1
    finalized = body_of(event, bodies.LightEnrollmentFinalized)
    assert finalized["data"]["account"]["uuid"] == body["data"]["account"]["uuid"]
    with pytest.raises(TypeError, match="is not a LightUsage"):
        body_of(event, bodies.LightUsage)


def test_a_type_light_adds_later_has_no_schema_and_still_decodes() -> None:
    """An unknown Light type decodes as a plain dict with no schema; a one-schema topic's
    records all have that schema, its dead-letter topic's too."""
    assert schema_of("light.events", "account.renamed") is None
    assert schema_of("gridhook.installations.events", "installation.waiting") == (
        "gridhook/installation-event.json"
    )
    assert schema_of("powerbox.meter-reads.dlq", "powerbox.meter.reads") == (
        "powerbox/meter-reads.json"
    )


def test_a_record_that_is_not_a_json_object_is_an_invalid_record() -> None:
    """Headers missing, a value that is not JSON, or not an object: InvalidRecord."""
    good = encode(CloudEvent("e", "light", "t", AT, b"k", b"[]"))
    with pytest.raises(InvalidRecord, match="not a JSON object"):
        decode_event("light.events", good.key, good.value, good.headers)
    with pytest.raises(InvalidRecord, match="not JSON"):
        decode_event("light.events", good.key, b"{", good.headers)
    with pytest.raises(InvalidRecord, match="ce_id"):
        decode_event("light.events", b"k", b"{}", [("ce_type", b"t")])


def test_the_typed_bodies_are_what_the_schemas_generate() -> None:
    """gridhook/subscriber/bodies.py is regenerated from schemas/ (run `make bodies`)."""
    committed = (PROJECT_ROOT / "gridhook" / "subscriber" / "bodies.py").read_text()
    assert committed == generate()


def test_each_typed_body_names_its_schema_s_fields_and_their_optionality() -> None:
    """A TypedDict's keys are its schema's properties; its required keys the schema's."""
    for path, kind in bodies.BODIES.items():
        schema = schemas.merged(schemas.dereferenced(path))
        assert set(kind.__annotations__) == set(schema["properties"]), path
        assert kind.__required_keys__ == frozenset(schema.get("required", [])), path


def record(
    event_id: str, event_type: str = "enrollment.finalized", offset: int = 0
) -> InboundRecord:
    body = schemas.load("light/events/enrollment.finalized.json")["examples"][0]
    encoded = encode(CloudEvent(event_id, "light", event_type, AT, b"acct-1", orjson.dumps(body)))
    return InboundRecord(
        "light.events", 0, offset, encoded.key, encoded.value, tuple(encoded.headers), 0
    )


async def test_a_batch_is_filtered_deduplicated_and_its_bad_records_rejected() -> None:
    """Only the wanted types reach the handler, each id once; a record without CloudEvents
    headers is rejected (to be dead-lettered), never handed over."""
    handled: list[str] = []

    async def handler(event: Event[Any]) -> None:
        handled.append(event.id)

    seen = InMemorySeenEvents()
    subscription = Subscription(
        group="g",
        topics=("light.events",),
        handler=handler,
        event_types=frozenset({"enrollment.finalized"}),
        seen=seen,
    )
    broken = InboundRecord("light.events", 0, 9, b"k", b"{}", (), 0)
    batch = [
        record("a"),
        record("b", "account.payment_failed"),
        record("a", offset=2),
        broken,
        record("c"),
    ]
    counts = await _Handling(subscription).handle(batch)
    assert handled == ["a", "c"]
    assert (counts.applied, counts.duplicates) == (2, 1)
    assert [rejected for rejected, _ in counts.rejected] == [broken]
    again = await _Handling(subscription).handle([record("a"), record("c")])
    assert (again.applied, again.duplicates, handled) == (0, 2, ["a", "c"])


async def test_sqlite_seen_events_keep_the_handler_s_writes_and_the_id_together(
    tmp_path: Path,
) -> None:
    """A handler that fails has its writes rolled back with nothing remembered; the next
    delivery applies the event once, and a redelivery after that changes nothing."""
    seen = SqliteSeenEvents(tmp_path / "subscriber.db")
    seen.connection.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, n INTEGER)")
    failing = True

    async def handler(event: Event[Any]) -> None:
        seen.connection.execute(
            "INSERT INTO accounts VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1",
            (event.key,),
        )
        if failing:
            raise RuntimeError("the team's bug")

    subscription = Subscription(group="g", topics=("light.events",), handler=handler, seen=seen)
    with pytest.raises(RuntimeError):
        await _Handling(subscription).handle([record("a")])
    failing = False
    await _Handling(subscription).handle([record("a")])
    await _Handling(subscription).handle([record("a")])
    seen.close()
    with sqlite3.connect(tmp_path / "subscriber.db") as reopened:
        assert reopened.execute("SELECT id, n FROM accounts").fetchall() == [("acct-1", 1)]
        assert reopened.execute("SELECT event_id FROM seen_events").fetchall() == [("a",)]


def _topics() -> list[Any]:
    from gridhook.contract.topics import all_topics

    return list(all_topics())


def _paths(patterns: tuple[str, ...]) -> list[str]:
    return [path for pattern in patterns for path in schemas.matching(pattern)]
