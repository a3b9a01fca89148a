"""The topic catalogue: every topic gridhook writes or reads, its key and its configuration.

This module is the single source of truth for topics: every module names a topic through the
constants below. Provisioning (`gridhook topics ensure`), the AsyncAPI document and the topics
page of the docs are all derived from `CATALOGUE`. gridhook's own consumers are declared here
too (`CONSUMERS`: command, group, topics): `gridhook consume <name>` runs each, a topic one of
them reads has a dead-letter topic, and the AsyncAPI document lists each group's reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DLQ_SUFFIX = ".dlq"

LIGHT_EVENTS = "light.events"
POWERBOX_CUSTOMERS = "powerbox.customers"
POWERBOX_BIND_REQUESTS = "powerbox.bind.requests"
POWERBOX_BIND_RESULTS = "powerbox.bind.results"
WATTSHIFT_PRICE_SIGNALS = "wattshift.price-signals"
BRIGHT_EVENTS = "bright.events"
INSTALLATIONS = "gridhook.installations"
INSTALLATION_EVENTS = "gridhook.installations.events"
METER_READS = "powerbox.meter-reads"
PEOPLE = "gridhook.people"
AUDIT = "gridhook.audit"
LIGHT_USAGE = "light.usage"

STATE_GROUP = "gridhook-state"
MEASUREMENTS_GROUP = "gridhook-measurements"
USAGE_GROUP = "gridhook-usage"
BIND_GROUP = "gridhook-bind"
INSTALLATIONS_GROUP = "gridhook-installations"

_MONTH_MS = str(30 * 24 * 3600 * 1000)


@dataclass(frozen=True)
class Topic:
    """One Kafka topic and its contract.

    `key` names the field the partition key is taken from, `messages` are globs under `schemas/`
    matching the JSON Schemas of the record values.
    """

    name: str
    key: str
    description: str
    partitions: int
    messages: tuple[str, ...]
    config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        """The dead-letter topic of this topic."""
        return self.name + DLQ_SUFFIX


# Events: kept 30 days. State (the latest record per key is what it says): compacted, kept.
_DURABLE = {"retention.ms": _MONTH_MS, "cleanup.policy": "delete"}
_STATE = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(3600 * 1000)}

CATALOGUE: tuple[Topic, ...] = (
    Topic(
        name=LIGHT_EVENTS,
        key="Light account uuid (`data.account.uuid`)",
        description="Light webhooks: enrollment, account and location events.",
        partitions=6,
        messages=("light/events/*.json",),
        config=_DURABLE,
    ),
    Topic(
        name=POWERBOX_CUSTOMERS,
        key="`clientId`",
        description="PowerBox customer sync payloads, one record per new version of a customer.",
        partitions=6,
        messages=("powerbox/customer.json",),
        config=_STATE,
    ),
    Topic(
        name=POWERBOX_BIND_REQUESTS,
        key="`meterId`",
        description="Accepted PowerBox bind and unbind requests, each with its bind id.",
        partitions=6,
        messages=("powerbox/bind-request.json",),
        config=_DURABLE,
    ),
    Topic(
        name=POWERBOX_BIND_RESULTS,
        key="`meterId`",
        description="Outcomes of bind requests from the AMI/HAN gateway.",
        partitions=6,
        messages=("powerbox/bind-result.json",),
        config=_STATE,
    ),
    Topic(
        name=WATTSHIFT_PRICE_SIGNALS,
        key="`homeId`",
        description="WattShift price-signal webhooks.",
        partitions=6,
        messages=("wattshift/price-signal.json",),
        config=_DURABLE,
    ),
    Topic(
        name=BRIGHT_EVENTS,
        key="`accountId`",
        description="Bright Energy report events (lastSeen, accountCreated, accountDeleted).",
        partitions=6,
        messages=("bright/report-event.json",),
        config=_DURABLE,
    ),
    Topic(
        name=INSTALLATIONS,
        key="installation id",
        description="Installations created by installers' systems (POST /v1/installations).",
        partitions=6,
        messages=("gridhook/installation.json",),
        config=_STATE,
    ),
    Topic(
        name=PEOPLE,
        key="person id (user id); account id for an erasure",
        description="The Data Layer's users, sealed: each record a person's current role, sealed "
        "fields and blind indexes (a guest added, a user updated), or an account erased.",
        partitions=6,
        messages=("gridhook/person.json",),
        config=_STATE,
    ),
    Topic(
        name=AUDIT,
        key="operator name",
        description="What each console operator did (a re-drive, a replay, a reveal, a resume "
        "or a cancel): who, when, what, how many records. Never the value revealed.",
        partitions=1,
        messages=("gridhook/audit.json",),
        config={"retention.ms": str(400 * 86_400_000), "cleanup.policy": "delete"},
    ),
    Topic(
        name=METER_READS,
        key="`meterId`",
        description="Meter reads the utility's head-end forwards from the bound HAN devices, "
        "one record per meter per batch: cumulative registers, in the order the meter made them.",
        partitions=12,
        messages=("powerbox/meter-reads.json",),
        config=_DURABLE,
    ),
    Topic(
        name=LIGHT_USAGE,
        key="Light location uuid",
        description="A Light location's 15-minute usage, as gridhook fetched it from Light "
        "(on `location.usage_history_available`, then once a day).",
        partitions=6,
        messages=("light/usage.json",),
        config=_DURABLE,
    ),
    Topic(
        name=INSTALLATION_EVENTS,
        key="installation id",
        description="Every step of each installation's workflow, as the orchestrator takes it.",
        partitions=6,
        messages=("gridhook/installation-event.json",),
        config=_DURABLE,
    ),
)

_DLQ_CONFIG = {"retention.ms": _MONTH_MS, "cleanup.policy": "delete"}


@dataclass(frozen=True)
class Consumer:
    """One of gridhook's own consumers: the `gridhook consume <name>` command that runs it, its
    consumer group, the topics it reads (each record it cannot apply goes to the topic's
    dead-letter topic) and what it does."""

    name: str
    group: str
    topics: tuple[str, ...]
    summary: str


STATE_APPLIER = Consumer(
    "state",
    STATE_GROUP,
    (
        LIGHT_EVENTS,
        POWERBOX_CUSTOMERS,
        POWERBOX_BIND_REQUESTS,
        POWERBOX_BIND_RESULTS,
        WATTSHIFT_PRICE_SIGNALS,
        BRIGHT_EVENTS,
        INSTALLATIONS,
        INSTALLATION_EVENTS,
        PEOPLE,
    ),
    "The state applier: keeps the state of every account, customer, meter, bind, home, "
    "installation and (sealed) person in the store the read API and the Data Layer serve; "
    "erases an account's people when Bright reports it deleted.",
)
BIND_FORWARDER = Consumer(
    "bind",
    BIND_GROUP,
    (POWERBOX_BIND_REQUESTS,),
    f"The bind forwarder: drives each bind request through the AMI head-end, in meter order, "
    f"and publishes its outcomes to {POWERBOX_BIND_RESULTS}.",
)
ORCHESTRATOR = Consumer(
    "installations",
    INSTALLATIONS_GROUP,
    (INSTALLATIONS,),
    f"The installation orchestrator: drives each installation's workflow with Light and "
    f"WattShift and publishes its steps to {INSTALLATION_EVENTS}.",
)
MEASUREMENTS = Consumer(
    "measurements",
    MEASUREMENTS_GROUP,
    (METER_READS, LIGHT_USAGE, WATTSHIFT_PRICE_SIGNALS),
    "The measurements consumer: turns meter reads and Light's usage into 15-minute intervals, "
    "and keeps WattShift's prices, in the store the read API prices and serves.",
)
USAGE_FETCHER = Consumer(
    "usage",
    USAGE_GROUP,
    (LIGHT_EVENTS,),
    f"The usage fetcher: fetches a Light location's usage from Light when it says it has some, "
    f"then once a day, and publishes it to {LIGHT_USAGE}.",
)
CONSUMERS: tuple[Consumer, ...] = (
    STATE_APPLIER,
    BIND_FORWARDER,
    ORCHESTRATOR,
    MEASUREMENTS,
    USAGE_FETCHER,
)


def consumed(topic: Topic) -> bool:
    """True when one of gridhook's consumers reads `topic` (so it has a dead-letter topic)."""
    return any(topic.name in consumer.topics for consumer in CONSUMERS)


@dataclass(frozen=True)
class Durability:
    """How many brokers hold each partition, and how many must have a record before a write
    with `acks=all` is acknowledged."""

    replication_factor: int
    min_insync_replicas: int

    @classmethod
    def for_cluster(cls, brokers: int, replication_factor: int | None = None) -> Durability:
        """min(3, brokers) replicas (or `replication_factor`), and all but one of them in sync
        from three replicas up: a broker can be lost without losing an acknowledged record,
        and writes go on while one is down."""
        factor = replication_factor or min(3, max(1, brokers))
        return cls(factor, factor - 1 if factor >= 3 else 1)


def dead_letter_topics() -> tuple[Topic, ...]:
    """One dead-letter topic per consumed topic, with the same key and one partition per source
    partition count (so a DLQ record keeps its key's partition)."""
    return tuple(
        Topic(
            name=topic.dlq,
            key=topic.key,
            description=f"Records of `{topic.name}` a consumer could not apply, with their origin.",
            partitions=topic.partitions,
            messages=topic.messages,
            config=_DLQ_CONFIG,
        )
        for topic in CATALOGUE
        if consumed(topic)
    )


def all_topics() -> tuple[Topic, ...]:
    """Every topic gridhook provisions: the catalogue and its dead-letter topics."""
    return CATALOGUE + dead_letter_topics()


def by_name(name: str) -> Topic:
    """The topic called `name`; `KeyError` when gridhook does not know it."""
    for topic in all_topics():
        if topic.name == name:
            return topic
    raise KeyError(name)
