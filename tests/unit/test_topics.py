"""The topic catalogue and the AsyncAPI contract generated from it."""

from __future__ import annotations

import orjson

from gridhook.contract import schemas
from gridhook.contract.asyncapi import build_document
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.contract.topics import (
    CATALOGUE,
    CONSUMERS,
    STATE_APPLIER,
    all_topics,
    by_name,
    dead_letter_topics,
)
from gridhook.state.transitions import APPLIED_TOPICS


def test_catalogue_names_the_required_topics_and_keys() -> None:
    """Each source topic exists with the partition key the contract promises."""
    keys = {topic.name: topic.key for topic in CATALOGUE}
    assert set(keys) == {
        "light.events",
        "powerbox.customers",
        "powerbox.bind.requests",
        "powerbox.bind.results",
        "wattshift.price-signals",
        "bright.events",
        "gridhook.installations",
        "gridhook.installations.events",
        "powerbox.meter-reads",
        "light.usage",
        "gridhook.people",
        "gridhook.audit",
    }
    assert "account uuid" in keys["light.events"]
    assert "clientId" in keys["powerbox.customers"]
    assert "meterId" in keys["powerbox.bind.requests"]
    assert "meterId" in keys["powerbox.bind.results"]
    assert "homeId" in keys["wattshift.price-signals"]
    assert "accountId" in keys["bright.events"]
    assert "installation id" in keys["gridhook.installations.events"]
    assert "meterId" in keys["powerbox.meter-reads"]
    assert "location uuid" in keys["light.usage"]


def test_every_consumed_topic_has_a_dead_letter_topic() -> None:
    """`<topic>.dlq` exists for each topic a consumer reads, and only for those."""
    consumed = {name for consumer in CONSUMERS for name in consumer.topics}
    assert {topic.name for topic in dead_letter_topics()} == {f"{n}.dlq" for n in consumed}
    assert by_name("light.events.dlq").partitions == by_name("light.events").partitions


def test_topic_names_are_unique() -> None:
    names = [topic.name for topic in all_topics()]
    assert len(names) == len(set(names))


def test_committed_asyncapi_matches_the_catalogue() -> None:
    """docs/asyncapi.json is what `gridhook docs asyncapi` generates (run `make asyncapi`)."""
    committed = orjson.loads((PROJECT_ROOT / "docs" / "asyncapi.json").read_bytes())
    assert committed == build_document()


def test_asyncapi_has_a_channel_per_topic_and_covers_every_schema() -> None:
    """Every topic is a channel, and every event schema is a message of some channel (but the
    parts of one and the readings batch, an HTTP body split per meter before it is published)."""
    document = build_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {topic.name for topic in all_topics()}
    titles = {message["title"] for message in document["components"]["messages"].values()}
    parts = (
        "light/envelope.json",
        "powerbox/meter-read.json",
        "powerbox/readings.json",
        "datalayer/search.json",
        "datalayer/update-user.json",
        "datalayer/add-user.json",
    )
    event_schemas = [path for path in schemas.every_path() if not path.endswith(parts)]
    assert {schemas.load(path)["title"] for path in event_schemas} <= titles
    assert document["asyncapi"] == "3.0.0"


def test_every_schema_is_valid_draft_2020_12() -> None:
    """Each schema file passes the draft 2020-12 metaschema and has a unique $id."""
    from jsonschema import Draft202012Validator

    ids = []
    for path in schemas.every_path():
        schema = schemas.load(path)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        ids.append(schema["$id"])
    assert len(ids) == len(set(ids))


def test_durability_follows_the_cluster() -> None:
    """min(3, brokers) replicas, all but one in sync from three up; an explicit factor wins."""
    from gridhook.contract.topics import Durability

    assert Durability.for_cluster(1) == Durability(1, 1)
    assert Durability.for_cluster(2) == Durability(2, 1)
    assert Durability.for_cluster(3) == Durability(3, 2)
    assert Durability.for_cluster(5) == Durability(3, 2)
    assert Durability.for_cluster(1, replication_factor=3) == Durability(3, 2)


def test_topics_whose_latest_record_is_state_are_compacted() -> None:
    """Customer syncs and bind results: a rebuild needs the latest per key, however old."""
    assert by_name("powerbox.customers").config["cleanup.policy"] == "compact"
    assert by_name("powerbox.bind.results").config["cleanup.policy"] == "compact"
    assert by_name("light.events").config["cleanup.policy"] == "delete"


def test_the_state_applier_reads_exactly_the_topics_it_has_transitions_for() -> None:
    """The declared state applier and the transitions name the same topics, in one order."""
    assert STATE_APPLIER.topics == APPLIED_TOPICS
