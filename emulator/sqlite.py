"""An emulator's durable state: one SQLite file through aiosqlite, opened with its schema, so
that an emulator survives its own restart as the partner it stands for would."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import aiosqlite


class SqliteState:
    """The connection to one emulator's SQLite file. Subclasses give `schema` (run at each
    open, so it uses `IF NOT EXISTS`) and may read what they need in `opened`; `lock` keeps
    one change at a time, so each commits only its own work."""

    schema: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self.lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, timeout=30)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.executescript(self.schema)
        await self.opened()
        await self._db.commit()

    async def opened(self) -> None:
        """Called once the schema exists, inside the opening transaction."""

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, f"{type(self).__name__}.open() was not awaited"
        return self._db
