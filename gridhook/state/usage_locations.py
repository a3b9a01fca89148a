"""The Light locations whose usage gridhook fetches, in the state store's `usage_locations`
table: each with its account, the partition of `light.events` its events come from (the usage
fetcher drives only the locations of the partitions it holds), the last day of usage fetched
and published, and whether Light still serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row, select, update

from gridhook.state.store import Store
from gridhook.state.tables import usage_locations as table


@dataclass(frozen=True)
class UsageLocation:
    location_uuid: str
    account_uuid: str
    partition: int
    fetched_through: date
    """The last UTC day whose usage is published (the day before service started, at first)."""
    active: bool


class UsageLocations:
    """Reads and writes of `usage_locations`, one transaction each."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def admit(
        self,
        location_uuid: str,
        account_uuid: str,
        partition: int,
        first_day: date,
        active: bool,
    ) -> UsageLocation:
        """Start fetching a location's usage from `first_day`, or mark it inactive (its
        service ended); what was fetched already is kept."""
        insert = self._store.insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.location_uuid],
            set_={"active": insert.excluded.active, "partition": insert.excluded.partition},
        )
        async with self._store.begin() as connection:
            await connection.execute(
                statement,
                {
                    "location_uuid": location_uuid,
                    "account_uuid": account_uuid,
                    "partition": partition,
                    "fetched_through": (first_day - timedelta(days=1)).isoformat(),
                    "active": active,
                },
            )
            row = (
                await connection.execute(
                    select(table).where(table.c.location_uuid == location_uuid)
                )
            ).one()
        return _location(row)

    async def get(self, location_uuid: str) -> UsageLocation | None:
        async with self._store.connect() as connection:
            row = (
                await connection.execute(
                    select(table).where(table.c.location_uuid == location_uuid)
                )
            ).one_or_none()
        return None if row is None else _location(row)

    async def active(self, partitions: set[int] | None) -> list[UsageLocation]:
        """The active locations of `partitions` (None: all)."""
        query = select(table).where(table.c.active.is_(True))
        if partitions is not None:
            query = query.where(table.c.partition.in_(sorted(partitions)))
        async with self._store.connect() as connection:
            return [_location(row) for row in await connection.execute(query)]

    async def fetched(self, location_uuid: str, through: date) -> None:
        """The usage up to `through` is published."""
        async with self._store.begin() as connection:
            await connection.execute(
                update(table)
                .where(table.c.location_uuid == location_uuid)
                .values(fetched_through=through.isoformat())
            )


def _location(row: Row[Any]) -> UsageLocation:
    return UsageLocation(
        location_uuid=row.location_uuid,
        account_uuid=row.account_uuid,
        partition=row.partition,
        fetched_through=date.fromisoformat(row.fetched_through),
        active=bool(row.active),
    )
