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
    Index,
    Integer,
    MetaData,
    String,
    Table,
    select,
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
)

bind_requests_seen = Table(
    "bind_requests_seen",
    metadata,
    Column("bind_id", String(100), primary_key=True),
    Column("meter_id", String(200), nullable=False),
    Column("seen_at", String(40), nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
)


def _v1_entities_and_applied_events(connection: Connection) -> None:
    metadata.create_all(connection, tables=[entities, applied_events])


def _v2_bind_arbiter(connection: Connection) -> None:
    metadata.create_all(connection, tables=[bind_arbiter, bind_requests_seen])


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _v1_entities_and_applied_events,
    _v2_bind_arbiter,
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
