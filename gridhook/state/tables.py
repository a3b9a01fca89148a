"""The store's tables and their migrations.

Migrations are an ordered list of functions, each run once in its own transaction; the
`schema_version` table records the last one applied. `migrate` brings any database (SQLite or
PostgreSQL) up to date and is safe to run from several processes at once.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    false,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = MetaData()

entities = Table(
    "entities",
    metadata,
    Column("kind", String(40), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
    Column("parent_id", String(200), nullable=True),
    Column("alias", String(200), nullable=True),
    Column("facts", JSON, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Index("entities_by_parent", "kind", "parent_id"),
    Index("entities_by_alias", "kind", "alias"),
)

applied_events = Table(
    "applied_events",
    metadata,
    Column("event_key", String(300), primary_key=True),
    Column("topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("applied_at", String(40), nullable=False),
    Index("applied_events_by_time", "applied_at"),  # v5
)

bind_arbiter = Table(
    "bind_arbiter",
    metadata,
    Column("meter_id", String(200), primary_key=True),
    Column("bind_id", String(100), nullable=False),
    Column("action", String(10), nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", String(100), nullable=True),
    Column("finished", Boolean, nullable=False),
    Column("published", Boolean, nullable=False),
    Column("request", JSON, nullable=False),
    Column("updated_at", String(40), nullable=False),
    # v4: 48-hour joins, reconciliation, re-drives, ownership by partition
    Column("device_mac", String(40), nullable=True),
    Column("deadline_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("round", Integer, nullable=False, server_default="1"),
    Column("reconciling", Boolean, nullable=False, server_default=false()),
    Column("partition", Integer, nullable=True),
    Index("bind_arbiter_by_partition", "partition"),
)

bind_requests_seen = Table(
    "bind_requests_seen",
    metadata,
    Column("bind_id", String(100), primary_key=True),
    Column("meter_id", String(200), nullable=False),
    Column("seen_at", String(40), nullable=False),
    Column("rounds", Integer, nullable=False, server_default="1"),  # v4
)

applied_offsets = Table(
    "applied_offsets",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

webhook_claims = Table(
    "webhook_claims",
    metadata,
    Column("message_key", String(400), primary_key=True),
    Column("state", String(10), nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("accepted_at", Float, nullable=True),
    Index("webhook_claims_by_time", "claimed_at"),
)

installation_workflows = Table(
    "installation_workflows",
    metadata,
    Column("installation_id", String(100), primary_key=True),
    Column("partition", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("status", String(40), nullable=False),
    Column("progress", JSON, nullable=False),
    Column("timeline", JSON, nullable=False),
    Column("published", Integer, nullable=False),
    Column("steps", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Index("installation_workflows_by_partition", "partition"),
)

meter_reads = Table(
    "meter_reads",
    metadata,
    Column("meter_id", String(200), primary_key=True),
    Column("read_at", Float, primary_key=True),
    Column("delivered", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("multiplier", Integer, nullable=False),
    Column("divisor", Integer, nullable=False),
)

measurement_intervals = Table(
    "measurement_intervals",
    metadata,
    Column("source", String(10), primary_key=True),
    Column("series", String(200), primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("imported", Float, nullable=False),
    Column("exported", Float, nullable=False),
    Column("actual", Float, nullable=False),
    Column("estimated", Float, nullable=False),
    Column("missing", Float, nullable=False),
    Index("measurement_intervals_by_start", "start"),
)

price_spans = Table(
    "price_spans",
    metadata,
    Column("home_id", String(200), primary_key=True),
    Column("start", Float, primary_key=True),
    Column("end", Float, nullable=False),
    Column("imported", Float, nullable=False),
    Column("exported", Float, nullable=False),
)

usage_locations = Table(
    "usage_locations",
    metadata,
    Column("location_uuid", String(100), primary_key=True),
    Column("account_uuid", String(100), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("fetched_through", String(10), nullable=True),
    Column("active", Boolean, nullable=False),
    Index("usage_locations_by_partition", "partition"),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
)


def _v1_entities_and_applied_events(connection: Connection) -> None:
    metadata.create_all(connection, tables=[entities])
    # applied_events as it was at v1: v5 adds its index by time.
    v1 = MetaData()
    Table(
        "applied_events",
        v1,
        Column("event_key", String(300), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("applied_at", String(40), nullable=False),
    )
    v1.create_all(connection)


def _v2_bind_arbiter(connection: Connection) -> None:
    # The tables as they were at v2; v4 adds the columns that came later.
    v2 = MetaData()
    Table(
        "bind_arbiter",
        v2,
        Column("meter_id", String(200), primary_key=True),
        Column("bind_id", String(100), nullable=False),
        Column("action", String(10), nullable=False),
        Column("state", String(20), nullable=False),
        Column("reason", String(100), nullable=True),
        Column("finished", Boolean, nullable=False),
        Column("published", Boolean, nullable=False),
        Column("request", JSON, nullable=False),
        Column("updated_at", String(40), nullable=False),
    )
    Table(
        "bind_requests_seen",
        v2,
        Column("bind_id", String(100), primary_key=True),
        Column("meter_id", String(200), nullable=False),
        Column("seen_at", String(40), nullable=False),
    )
    v2.create_all(connection)


def _v3_applied_offsets(connection: Connection) -> None:
    metadata.create_all(connection, tables=[applied_offsets])


def _v4_long_joins(connection: Connection) -> None:
    for column in ("device_mac", "deadline_at", "attempts", "round", "reconciling", "partition"):
        _add_column(connection, bind_arbiter, column)
    _add_column(connection, bind_requests_seen, "rounds")
    Index("bind_arbiter_by_partition", bind_arbiter.c.partition).create(connection)
    # Rows admitted before v4 name their partition only in the record they keep.
    rows = connection.execute(select(bind_arbiter.c.meter_id, bind_arbiter.c.request)).all()
    for meter_id, request in rows:
        connection.execute(
            update(bind_arbiter)
            .where(bind_arbiter.c.meter_id == meter_id)
            .values(partition=int(request["partition"]))
        )


def _add_column(connection: Connection, table: Table, name: str) -> None:
    column = table.c[name]
    kind = column.type.compile(dialect=connection.dialect)
    server_default = getattr(column.server_default, "arg", None)
    default = "" if server_default is None else f" DEFAULT {_sql(server_default, connection)}"
    nullable = "" if column.nullable else " NOT NULL"
    connection.execute(
        text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}{default}{nullable}')
    )


def _sql(default: object, connection: Connection) -> str:
    """A server default as SQL text: a literal as it is, an expression compiled."""
    if isinstance(default, str):
        return default
    return str(default.compile(dialect=connection.dialect))  # type: ignore[attr-defined]


def _v5_applied_events_by_time(connection: Connection) -> None:
    Index("applied_events_by_time", applied_events.c.applied_at).create(connection)


def _v6_webhook_claims(connection: Connection) -> None:
    metadata.create_all(connection, tables=[webhook_claims])


def _v7_installation_workflows(connection: Connection) -> None:
    metadata.create_all(connection, tables=[installation_workflows])


def _v8_measurements(connection: Connection) -> None:
    metadata.create_all(
        connection, tables=[meter_reads, measurement_intervals, price_spans, usage_locations]
    )


def _v9_installation_links(connection: Connection) -> None:
    """Installations applied before v8 name their meter (as their alias) and link the Light
    location they enrolled (its `installation` fact), as the state applier now does."""
    rows = connection.execute(
        select(entities.c.entity_id, entities.c.facts).where(
            entities.c.kind == "gridhook.installation"
        )
    ).all()
    for installation_id, facts in rows:
        document = (facts.get("document") or {}).get("value") or {}
        meter = document.get("meterId")
        if isinstance(meter, str) and "alias" not in facts:
            link = {**facts["document"], "value": meter}
            connection.execute(
                update(entities)
                .where(entities.c.kind == "gridhook.installation")
                .where(entities.c.entity_id == installation_id)
                .values(alias=meter, facts={**facts, "alias": link})
            )
        for name, step in facts.items():
            location = (
                ((step.get("value") or {}).get("detail") or {}) if name.startswith("step:") else {}
            )
            uuid = location.get("locationUuid") if isinstance(location, dict) else None
            if isinstance(uuid, str):
                _link_location(connection, uuid, {**step, "value": installation_id})


def _link_location(connection: Connection, location: str, fact: dict[str, object]) -> None:
    key = (entities.c.kind == "light.location", entities.c.entity_id == location)
    row = connection.execute(select(entities.c.facts).where(*key)).first()
    if row is None:
        connection.execute(
            entities.insert().values(
                kind="light.location", entity_id=location, parent_id=None, alias=None,
                facts={"installation": fact}, updated_at=str(fact.get("at", "")),
            )
        )  # fmt: skip
    elif "installation" not in row.facts:
        connection.execute(
            update(entities).where(*key).values(facts={**row.facts, "installation": fact})
        )


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _v1_entities_and_applied_events,
    _v2_bind_arbiter,
    _v3_applied_offsets,
    _v4_long_joins,
    _v5_applied_events_by_time,
    _v6_webhook_claims,
    _v7_installation_workflows,
    _v8_measurements,
    _v9_installation_links,
)


async def migrate(engine: AsyncEngine) -> int:
    """Apply every pending migration; return the schema version now in force."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: schema_version.create(sync, checkfirst=True))
    for version, migration in enumerate(MIGRATIONS, start=1):
        try:
            async with engine.begin() as connection:
                done = await connection.scalar(
                    select(schema_version.c.version).where(schema_version.c.version == version)
                )
                if done is not None:
                    continue
                await connection.execute(schema_version.insert().values(version=version))
                await connection.run_sync(migration)
        except IntegrityError:
            continue  # another process applied this migration at the same moment
    return len(MIGRATIONS)
