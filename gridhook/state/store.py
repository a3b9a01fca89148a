"""The state store: the entities (fact maps) in the database, with the ids of the events
already applied.

`Store` is the `Database` (`gridhook.state.database`) the table repositories beside this
module share (`meter_binds`, `workflows`, `claims`), with the entities' reads and writes.
`Store.apply` applies a batch of entity updates in one transaction: the events' ids are
recorded in the same transaction as their effects, so a redelivered event changes nothing
(effectively once); what the merged facts imply is made explicit by the reconcilers the state
applier passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridhook.contract.codec import format_time
from gridhook.state.database import Database, database_url
from gridhook.state.facts import (
    ALIAS,
    PARENT,
    EntityUpdate,
    Facts,
    JsonValue,
    facts_from_json,
    facts_to_json,
    merge_into_json,
)
from gridhook.state.tables import applied_events, applied_offsets, entities

__all__ = ["Application", "Entity", "Outcome", "Reconcilers", "Store", "database_url"]


@dataclass(frozen=True)
class Application:
    """One event to apply: its unique key, where it was read, and the updates it makes."""

    event_key: str
    topic: str
    partition: int
    offset: int
    updates: Sequence[EntityUpdate]


@dataclass(frozen=True)
class Outcome:
    applied: int
    duplicates: int


@dataclass(frozen=True)
class Entity:
    kind: str
    entity_id: str
    parent_id: str | None
    alias: str | None
    facts: Facts


Reconcilers = Mapping[str, Callable[[Facts], Facts]]
"""Per entity kind, what its merged facts imply, made explicit (pure); kinds not named are
stored as merged."""
_NONE: Reconcilers = {}


# SQLite: the batch's rows and applied ids, one executemany each (`?` is its own style).
_UPSERT = """INSERT INTO entities (kind, entity_id, parent_id, alias, facts, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (kind, entity_id) DO UPDATE SET parent_id = excluded.parent_id,
    alias = excluded.alias, facts = excluded.facts, updated_at = excluded.updated_at"""
_APPLIED = """INSERT INTO applied_events (event_key, topic, partition, "offset", applied_at)
    VALUES (?, ?, ?, ?, ?)"""
_APPLIED_COLUMNS = ("event_key", "topic", "partition", "offset", "applied_at")
_ENTITY_COLUMNS = ("kind", "entity_id", "parent_id", "alias", "facts", "updated_at")
_STAGING = """CREATE TEMPORARY TABLE IF NOT EXISTS staged_entities
    (kind text, entity_id text, parent_id text, alias text, facts json, updated_at text)
    ON COMMIT DELETE ROWS"""
"""PostgreSQL: where a batch's changed rows are copied, per connection, emptied at commit."""
_MERGE_STAGED = """INSERT INTO entities (kind, entity_id, parent_id, alias, facts, updated_at)
    SELECT kind, entity_id, parent_id, alias, facts, updated_at FROM staged_entities
    ON CONFLICT (kind, entity_id) DO UPDATE SET parent_id = excluded.parent_id,
    alias = excluded.alias, facts = excluded.facts, updated_at = excluded.updated_at"""
# Statements sent straight to the driver, a batch's keys as one parameter: SQLAlchemy compiled
# a bind parameter per key (bench/README.md).
_SEEN = {  # by whether the database is SQLite
    True: """SELECT event_key FROM applied_events
        WHERE event_key IN (SELECT value FROM json_each(?))""",
    False: "SELECT event_key FROM applied_events WHERE event_key = ANY($1::text[])",
}
_SQLITE_ROWS = """SELECT kind, entity_id, parent_id, alias, facts FROM entities
    WHERE kind = ? AND entity_id IN (SELECT value FROM json_each(?))"""
"""SQLite: a batch's rows of one kind (its writer holds the whole database: no row locks)."""
_PLACEHOLDERS = """INSERT INTO entities (kind, entity_id, facts, updated_at)
    SELECT kind, entity_id, '{}', $3 FROM unnest($1::text[], $2::text[]) AS keys(kind, entity_id)
    ORDER BY kind, entity_id
    ON CONFLICT (kind, entity_id) DO NOTHING"""
"""PostgreSQL: the missing rows of a batch inserted empty, in key order (`_locked_rows`)."""
_LOCKED = """SELECT kind, entity_id, parent_id, alias, facts FROM entities
    WHERE (kind, entity_id) IN
        (SELECT * FROM unnest($1::text[], $2::text[]) AS keys(kind, entity_id))
    ORDER BY kind, entity_id FOR UPDATE"""
"""PostgreSQL: a batch's rows, locked in key order (`_locked_rows`)."""


class Store(Database):
    """The entities and applied event ids in the database."""

    # -- writing ---------------------------------------------------------------------------

    async def apply(
        self,
        batch: Sequence[Application],
        read: Sequence[tuple[str, int, int]] = (),
        reconcilers: Reconcilers = _NONE,
    ) -> Outcome:
        """Apply every event of `batch` not applied before, in one transaction, and record how
        far each partition has been applied (`applied_through`): past every record of `batch`
        and every `(topic, partition, offset)` of `read` (records read but not applied, such as
        dead letters). Each changed entity whose kind `reconcilers` names is stored as its
        reconciler makes it."""
        if not batch and not read:
            return Outcome(0, 0)
        async with self.translated(), self._engine.begin() as connection:
            keys = list(dict.fromkeys(item.event_key for item in batch))
            found = await connection.exec_driver_sql(_SEEN[self._sqlite], (self.array(keys),))
            seen = {key for (key,) in found}
            fresh: list[Application] = []
            for item in batch:
                if item.event_key not in seen:
                    seen.add(item.event_key)
                    fresh.append(item)
            if fresh:
                await self._merge(connection, fresh, reconcilers)
            through: dict[tuple[str, int], int] = {}
            for topic, partition, offset in [
                *((item.topic, item.partition, item.offset) for item in batch),
                *read,
            ]:
                through[(topic, partition)] = max(through.get((topic, partition), 0), offset + 1)
            await self._advance(connection, through)
            return Outcome(applied=len(fresh), duplicates=len(batch) - len(fresh))

    async def _merge(
        self, connection: AsyncConnection, fresh: list[Application], reconcilers: Reconcilers
    ) -> None:
        now = format_time(datetime.now(UTC))
        wanted = sorted({(u.kind, u.entity_id) for item in fresh for u in item.updates})
        rows = await self._locked_rows(connection, wanted, now)
        changed: set[tuple[str, str]] = set()
        for item in fresh:
            for update in item.updates:
                key = (update.kind, update.entity_id)
                row = rows.setdefault(key, _new_row(update.kind, update.entity_id))
                merge_into_json(row["facts"], update.facts)
                changed.add(key)
        if changed:
            values = []
            for key in sorted(changed):
                stored = rows[key]["facts"]
                reconcile = reconcilers.get(key[0])
                if reconcile is not None:
                    stored = facts_to_json(reconcile(facts_from_json(stored)))
                values.append(
                    (
                        key[0],
                        key[1],
                        _lookup(stored, PARENT),
                        _lookup(stored, ALIAS),
                        orjson.dumps(stored, option=orjson.OPT_SORT_KEYS).decode(),
                        now,
                    )
                )
            await self._upsert(connection, values)
        applied = [(item.event_key, item.topic, item.partition, item.offset, now) for item in fresh]
        if self._sqlite:
            await connection.exec_driver_sql(_APPLIED, applied)
        else:
            await self.copy_rows(connection, "applied_events", _APPLIED_COLUMNS, applied)

    async def _upsert(self, connection: AsyncConnection, values: list[tuple[Any, ...]]) -> None:
        """Write the batch's changed rows: straight to the driver on SQLite, an executemany
        (SQLAlchemy's parameter processing for thousands of rows costs more than the
        statement); on PostgreSQL, copied into a staging table, then merged by one statement
        (bench/README.md)."""
        if self._sqlite:
            await connection.exec_driver_sql(_UPSERT, values)
            return
        await connection.exec_driver_sql(_STAGING)
        await self.copy_rows(connection, "staged_entities", _ENTITY_COLUMNS, values)
        await connection.exec_driver_sql(_MERGE_STAGED)

    async def _locked_rows(
        self, connection: AsyncConnection, wanted: list[tuple[str, str]], now: str
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The rows of `wanted`, their facts in JSON form, locked until the transaction ends.

        On PostgreSQL the missing rows are inserted empty first (in key order, as the locks
        are then taken), so that every row exists to be locked: two appliers writing one row
        from two topics (a meter, from customer syncs and from bind results) then wait for each
        other instead of overwriting each other's facts. SQLite's writer holds the whole
        database (BEGIN IMMEDIATE).
        """
        if not wanted:
            return {}
        if not self._sqlite:
            return await self._locked_postgres_rows(connection, wanted, now)
        by_kind: dict[str, list[str]] = {}
        for kind, entity_id in wanted:
            by_kind.setdefault(kind, []).append(entity_id)
        rows = {}
        for kind, ids in by_kind.items():
            found = await connection.exec_driver_sql(_SQLITE_ROWS, (kind, self.array(ids)))
            for _, entity_id, parent_id, alias, facts in found:
                rows[(kind, entity_id)] = _row(
                    kind, entity_id, parent_id, alias, orjson.loads(facts)
                )
        return rows

    async def _locked_postgres_rows(
        self, connection: AsyncConnection, wanted: list[tuple[str, str]], now: str
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """`_locked_rows` on PostgreSQL: the keys sent as two arrays to one statement each,
        straight to the driver (SQLAlchemy compiled a bind parameter per key)."""
        kinds = [kind for kind, _ in wanted]
        ids = [entity_id for _, entity_id in wanted]
        await connection.exec_driver_sql(_PLACEHOLDERS, (kinds, ids, now))
        found = await connection.exec_driver_sql(_LOCKED, (kinds, ids))
        # The facts come decoded: SQLAlchemy gives asyncpg a JSON codec.
        return {(row[0], row[1]): _row(*row) for row in found}

    async def reached(self, through: dict[tuple[str, int], int]) -> None:
        """Record that every record before `through[(topic, partition)]` has been applied."""
        if through:
            async with self.translated(), self._engine.begin() as connection:
                await self._advance(connection, through)

    async def _advance(
        self, connection: AsyncConnection, through: dict[tuple[str, int], int]
    ) -> None:
        """Move each partition's `applied_through` forward to `through` (never back)."""
        insert = self.insert(applied_offsets)
        greatest = func.max if self._sqlite else func.greatest
        await connection.execute(
            insert.on_conflict_do_update(
                index_elements=[applied_offsets.c.topic, applied_offsets.c.partition],
                set_={
                    "next_offset": greatest(
                        applied_offsets.c.next_offset, insert.excluded.next_offset
                    )
                },
            ),
            [
                {"topic": topic, "partition": partition, "next_offset": offset}
                for (topic, partition), offset in sorted(through.items())
            ],
        )

    async def forget_applied(self, before: datetime) -> int:
        """Delete the ids of events applied before `before`; how many went."""
        async with self.translated(), self._engine.begin() as connection:
            result = await connection.execute(
                delete(applied_events).where(applied_events.c.applied_at < format_time(before))
            )
            return int(result.rowcount or 0)

    async def clear(self) -> None:
        """Delete every entity, applied event id and watermark (for `gridhook state rebuild`)."""
        async with self.translated(), self._engine.begin() as connection:
            await connection.execute(delete(entities))
            await connection.execute(delete(applied_events))
            await connection.execute(delete(applied_offsets))

    # -- reading ---------------------------------------------------------------------------

    async def entity(self, kind: str, entity_id: str) -> Entity | None:
        async with self.translated(), self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(entities).where(
                        entities.c.kind == kind, entities.c.entity_id == entity_id
                    )
                )
            ).first()
        return None if row is None else _entity(row)

    async def entities(self, kind: str, entity_ids: Sequence[str]) -> dict[str, Entity]:
        """The entities of `kind` among `entity_ids` that exist, by id."""
        if not entity_ids:
            return {}
        async with self.translated(), self._engine.connect() as connection:
            result = await connection.execute(
                select(entities).where(
                    entities.c.kind == kind, entities.c.entity_id.in_(list(entity_ids))
                )
            )
            return {row.entity_id: _entity(row) for row in result}

    async def applied_through(self, topic: str) -> dict[int, int]:
        """Per partition of `topic`, the offset after the last record the applier applied."""
        async with self.translated(), self._engine.connect() as connection:
            result = await connection.execute(
                select(applied_offsets.c.partition, applied_offsets.c.next_offset).where(
                    applied_offsets.c.topic == topic
                )
            )
            return {int(partition): int(offset) for partition, offset in result}

    async def by_alias(self, kind: str, alias: str) -> Entity | None:
        async with self.translated(), self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(entities).where(entities.c.kind == kind, entities.c.alias == alias)
                )
            ).first()
        return None if row is None else _entity(row)

    async def all_of(self, kind: str) -> list[Entity]:
        """Every entity of `kind` (for the console's lists: installations, a few thousand)."""
        async with self.translated(), self._engine.connect() as connection:
            rows = await connection.execute(select(entities).where(entities.c.kind == kind))
            return [_entity(row) for row in rows]

    async def children(self, kind: str, parent_id: str) -> list[Entity]:
        async with self.translated(), self._engine.connect() as connection:
            result = await connection.execute(
                select(entities)
                .where(entities.c.kind == kind, entities.c.parent_id == parent_id)
                .order_by(entities.c.entity_id)
            )
            return [_entity(row) for row in result]

    async def snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every entity as plain data (for tests and `state rebuild` checks)."""
        async with self.translated(), self._engine.connect() as connection:
            result = await connection.execute(select(entities))
            return {
                (row.kind, row.entity_id): {
                    "parent_id": row.parent_id,
                    "alias": row.alias,
                    "facts": row.facts,
                }
                for row in result
            }

    async def applied_event(
        self, event_keys: Sequence[str]
    ) -> tuple[str, str, int, int, str] | None:
        """The first of `event_keys` the applier applied: its key, where it was read and when
        it was applied; None when none was (or its id was forgotten past the horizon)."""
        async with self.translated(), self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(applied_events).where(applied_events.c.event_key.in_(list(event_keys)))
                )
            ).first()
        if row is None:
            return None
        return (row.event_key, row.topic, int(row.partition), int(row.offset), row.applied_at)

    async def applied_count(self) -> int:
        async with self.translated(), self._engine.connect() as connection:
            return int(
                await connection.scalar(select(func.count()).select_from(applied_events)) or 0
            )


def _lookup(stored: dict[str, JsonValue], name: str) -> str | None:
    fact = stored.get(name)
    return None if fact is None or fact["value"] is None else str(fact["value"])


def _entity(row: Any) -> Entity:
    return Entity(row.kind, row.entity_id, row.parent_id, row.alias, facts_from_json(row.facts))


def _row(
    kind: str, entity_id: str, parent_id: str | None, alias: str | None, facts: dict[str, Any]
) -> dict[str, Any]:
    """An entity's row as the applier merges into it."""
    return {
        "kind": kind,
        "entity_id": entity_id,
        "parent_id": parent_id,
        "alias": alias,
        "facts": facts,
    }


def _new_row(kind: str, entity_id: str) -> dict[str, Any]:
    return _row(kind, entity_id, None, None, {})
