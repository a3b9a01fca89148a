"""The key store: each person's data key, wrapped by a master key, in a database of its own
(`GRIDHOOK_KEYS_DATABASE_URL`), apart from the state and its backups.

Deleting a person's row is what erases them: every sealed copy of their fields, in the store,
in Kafka's compacted topics and in any backup of those, can no longer be opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridhook.contract.codec import format_time
from gridhook.contract.personal import MasterKeys, new_data_key
from gridhook.state.database import Database

metadata = MetaData()
person_keys = Table(
    "person_keys",
    metadata,
    Column("person_id", String(100), primary_key=True),
    Column("wrapped", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
)


class KeyStore(Database):
    """Data keys by person, wrapped by `master_keys`."""

    def __init__(self, url: str, master_keys: MasterKeys, *, writer: bool = False) -> None:
        super().__init__(url, writer=writer)
        self._master = master_keys

    async def _schema(self, engine: AsyncEngine) -> int:
        """One table, created when missing (by `migrate`, one process at a time on SQLite)."""
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: metadata.create_all(sync, checkfirst=True))
        return 1

    async def data_key(self, person_id: str, *, create: bool = False) -> bytes | None:
        """The person's data key; a new one when they have none and `create` (None when they
        have none, or were erased, and not `create`)."""
        query = select(person_keys.c.wrapped).where(person_keys.c.person_id == person_id)
        async with self.connect() as connection:
            wrapped = await connection.scalar(query)
        if wrapped is not None:
            return self._master.unwrap(wrapped, person_id)
        if not create:
            return None
        key = new_data_key()
        row = {
            "person_id": person_id,
            "wrapped": self._master.wrap(key, person_id),
            "created_at": format_time(datetime.now(UTC)),
        }
        try:
            async with self.begin() as connection:
                await connection.execute(person_keys.insert().values(row))
        except Exception as error:  # another process made it at the same moment: use theirs
            if not isinstance(error.__cause__, IntegrityError):
                raise
            return await self.data_key(person_id)
        return key

    async def data_keys(self, person_ids: Iterable[str]) -> dict[str, bytes]:
        """The data keys of those of `person_ids` who have one."""
        wanted = sorted(set(person_ids))
        if not wanted:
            return {}
        query = select(person_keys.c.person_id, person_keys.c.wrapped).where(
            person_keys.c.person_id.in_(wanted)
        )
        async with self.connect() as connection:
            rows = (await connection.execute(query)).tuples().all()
        return {person: self._master.unwrap(wrapped, person) for person, wrapped in rows}

    async def erase(self, person_ids: Sequence[str]) -> int:
        """Delete the data keys of `person_ids`; how many there were."""
        if not person_ids:
            return 0
        async with self.begin() as connection:
            gone = await connection.execute(
                delete(person_keys).where(person_keys.c.person_id.in_(list(person_ids)))
            )
        return int(gone.rowcount or 0)

    async def rewrap(self) -> int:
        """Wrap every data key with the current master key (after a new one was put first);
        how many were re-wrapped."""
        async with self.connect() as connection:
            rows = (await connection.execute(select(person_keys))).all()
        done = 0
        for row in rows:
            if self._master.wraps_with_current(row.wrapped):
                continue
            key = self._master.unwrap(row.wrapped, row.person_id)
            async with self.begin() as connection:
                await connection.execute(
                    update(person_keys)
                    .where(person_keys.c.person_id == row.person_id)
                    .values(wrapped=self._master.wrap(key, row.person_id))
                )
            done += 1
        return done
