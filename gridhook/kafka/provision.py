"""Topic provisioning: create what the catalogue names and report how existing topics differ.

It never deletes a topic or lowers a partition count; drift is reported for a person to act on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from gridhook.contract.errors import ProvisioningFailed
from gridhook.contract.topics import Durability, Topic, all_topics
from gridhook.kafka import clients

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class Drift:
    """One way an existing topic differs from the catalogue."""

    topic: str
    setting: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.setting} is {self.actual}, catalogue says {self.expected}"


@dataclass(frozen=True)
class TopicState:
    """What the cluster says about one topic."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]
    leaders_elected: bool
    """Every partition has a leader: the topic can be written to and read from."""


@dataclass(frozen=True)
class EnsureReport:
    """What `ensure_topics` did."""

    created: tuple[str, ...]
    existing: tuple[str, ...]
    """The topics that were there already (created + existing: every topic asked for)."""
    drift: tuple[Drift, ...]
    durability: Durability
    brokers: int


async def describe(admin: AIOKafkaAdminClient, names: Iterable[str]) -> dict[str, TopicState]:
    """The state of those of `names` that exist."""
    asked = list(names)
    if not asked:
        return {}
    metadata = [
        topic
        for topic in await admin.describe_topics(asked)
        if topic["error_code"] == 0 and topic["partitions"]
    ]
    wanted = [topic["topic"] for topic in metadata]
    if not wanted:
        return {}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, None) for name in wanted]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            configs[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    states = {}
    for topic in metadata:
        partitions = topic["partitions"]
        states[topic["topic"]] = TopicState(
            name=topic["topic"],
            partitions=len(partitions),
            replication_factor=max((len(p["replicas"]) for p in partitions), default=0),
            config=configs.get(topic["topic"], {}),
            leaders_elected=all(p["leader"] >= 0 for p in partitions),
        )
    return states


def wanted_config(topic: Topic, durability: Durability) -> dict[str, str]:
    """The topic configuration the catalogue and the cluster's durability ask for."""
    return {**topic.config, "min.insync.replicas": str(durability.min_insync_replicas)}


def drift_of(topic: Topic, state: TopicState, durability: Durability) -> list[Drift]:
    """How `state` differs from what the catalogue and `durability` ask of `topic`."""
    drift = []
    if state.partitions != topic.partitions:
        drift.append(Drift(topic.name, "partitions", str(topic.partitions), str(state.partitions)))
    if state.replication_factor != durability.replication_factor:
        drift.append(
            Drift(
                topic.name,
                "replication factor",
                str(durability.replication_factor),
                str(state.replication_factor),
            )
        )
    for name, expected in sorted(wanted_config(topic, durability).items()):
        actual = state.config.get(name, "(unset)")
        if actual != expected:
            drift.append(Drift(topic.name, name, expected, actual))
    return drift


async def ensure_topics(
    bootstrap: str,
    replication_factor: int | None = None,
    topics: Iterable[Topic] | None = None,
) -> EnsureReport:
    """Create the missing catalogue topics and report drift in the existing ones. Their
    durability follows the cluster (`Durability.for_cluster`), unless `replication_factor`
    is given. It returns once every topic it created has a leader on each partition."""
    wanted = {topic.name: topic for topic in (all_topics() if topics is None else topics)}
    async with clients.admin(bootstrap) as admin:
        brokers = len((await admin.describe_cluster())["brokers"])
        durability = Durability.for_cluster(brokers, replication_factor)
        states = await describe(admin, wanted)
        missing = [topic for name, topic in wanted.items() if name not in states]
        created: list[str] = []
        raced: list[str] = []
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        topic.name,
                        topic.partitions,
                        durability.replication_factor,
                        topic_configs=wanted_config(topic, durability),
                    )
                    for topic in missing
                ]
            )
            for result in response.to_object()["topic_errors"]:
                code = result["error_code"]
                if code == 0:
                    created.append(result["topic"])
                elif code == _TOPIC_ALREADY_EXISTS:
                    # Created meanwhile, or the broker's metadata lagged behind a creation.
                    raced.append(result["topic"])
                else:
                    message = result["error_message"] or f"error code {code}"
                    raise ProvisioningFailed(f"creating {result['topic']} failed: {message}")
        if created or raced:
            states.update(await _describe_eventually(admin, created + raced))
    drift = [
        item
        for name, state in sorted(states.items())
        for item in drift_of(wanted[name], state, durability)
    ]
    return EnsureReport(
        created=tuple(sorted(created)),
        existing=tuple(sorted(name for name in states if name not in created)),
        drift=tuple(drift),
        durability=durability,
        brokers=brokers,
    )


async def _describe_eventually(
    admin: AIOKafkaAdminClient, names: list[str], deadline: float = 30.0
) -> dict[str, TopicState]:
    """Describe topics the controller says exist, once the broker's metadata shows them with a
    leader for every partition: a client that asks right after creation then finds them."""
    try:
        async with asyncio.timeout(deadline):
            while True:
                states = await describe(admin, names)
                if len(states) == len(names) and all(s.leaders_elected for s in states.values()):
                    return states
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise ProvisioningFailed(
            f"created topics still lack a leader after {deadline:g} s: {', '.join(names)}"
        ) from None


async def list_topics(bootstrap: str) -> tuple[list[Topic], dict[str, TopicState]]:
    """The catalogue and the state of those of its topics that exist."""
    topics = list(all_topics())
    async with clients.admin(bootstrap) as admin:
        states = await describe(admin, [topic.name for topic in topics])
    return topics, states
