"""An emulator's durable state: one SQLite file through aiosqlite, opened with its schema, so
that an emulator survives its own restart as the partner it stands for would; and its
calendar (`emulator.scaled_time`), whose start it keeps there unless the settings fix one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import aiosqlite

from emulator.scaled_time import ScaledCalendar
from gridhook.contract.settings import Calendar

_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"


class SqliteState:
    """The connection to one emulator's SQLite file. Subclasses give `schema` (run at each
    open, so it uses `IF NOT EXISTS`) and may read what they need in `opened`; `lock` keeps
    one change at a time, so each commits only its own work."""

    schema: ClassVar[str]

    def __init__(
        self,
        path: Path,
        calendar: Calendar | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self.lock = asyncio.Lock()
        self._calendar_settings = calendar
        self._clock = clock
        self._calendar: ScaledCalendar | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, timeout=30)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.executescript(_META + self.schema)
        if self._calendar_settings is not None:
            self._calendar = await self._open_calendar(self._calendar_settings)
        await self.opened()
        await self._db.commit()

    async def _open_calendar(self, settings: Calendar) -> ScaledCalendar:
        """The calendar from the settings' start, or from the one kept since the first open."""
        await self.db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (repr(self._clock()),)
        )
        async with self.db.execute("SELECT value FROM meta WHERE name = 'epoch'") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        epoch = settings.epoch if settings.epoch is not None else float(row[0])
        return ScaledCalendar(epoch, settings.day_seconds, self._clock)

    @property
    def calendar(self) -> ScaledCalendar:
        assert self._calendar is not None, f"{type(self).__name__} has no calendar, or is closed"
        return self._calendar

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
