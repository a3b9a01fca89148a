"""The database every stateful part of gridhook shares: SQLite (a file, the default) or
PostgreSQL, through SQLAlchemy's async engine.

`Database.begin()` and `Database.connect()` are the transactions and connections the state
layer's repositories use; database errors inside them become the retriable
`StoreUnavailable`. `migrate()` brings the schema (`gridhook.state.tables`) up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Table, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from gridhook.contract.errors import ConfigError, StoreUnavailable
from gridhook.state.tables import migrate

if TYPE_CHECKING:  # PostgreSQL's dialect is imported only by a process that uses it (2 MB)
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert

_IMMEDIATE = "gridhook_sqlite_immediate"
"""Execution option: on SQLite, this engine's transactions begin with `BEGIN IMMEDIATE`."""


def database_url(url: str) -> str:
    """`url` with the async driver gridhook uses (aiosqlite, asyncpg) filled in."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        raise ConfigError("GRIDHOOK_DATABASE_URL: not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ConfigError("GRIDHOOK_DATABASE_URL: only sqlite and postgresql are supported")


class Database:
    """A connection pool to the database at `url`. `writer=True` for a process that writes: its
    SQLite transactions take the write lock up front."""

    def __init__(self, url: str, *, writer: bool = False) -> None:
        self.url = database_url(url)
        self._sqlite = self.url.startswith("sqlite")
        self._engine: AsyncEngine = create_async_engine(
            self.url,
            pool_pre_ping=not self._sqlite,
            json_serializer=_json_text,
            json_deserializer=orjson.loads,
        )
        if self._sqlite:
            self._configure_sqlite(writer)

    def _configure_sqlite(self, writer: bool) -> None:
        sync_engine = self._engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin (pysqlite recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # First, so that switching a new file to WAL waits for a process doing the same.
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _begin(connection: Any) -> None:
            # A writer, and every migration, takes the write lock up front: a deferred
            # transaction that read before writing fails at once when another process wrote
            # meanwhile, instead of waiting out the busy timeout.
            immediate = writer or connection.get_execution_options().get(_IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends (rolled back if it
        raises); database errors become `StoreUnavailable`."""
        async with self.translated(), self._engine.begin() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading; database errors become `StoreUnavailable`."""
        async with self.translated(), self._engine.connect() as connection:
            yield connection

    def driver_sql(self, statement: str) -> str:
        """`statement`, written with `?` placeholders, in this database's driver's style
        (`$1`, `$2`, ... for asyncpg), for `exec_driver_sql`: the measurements' bulk
        statements skip SQLAlchemy's parameter processing, which for an executemany of
        thousands of rows costs more than the statement (bench/README.md)."""
        if self._sqlite:
            return statement
        number = itertools.count(1)
        return "".join(
            f"${next(number)}{part}" if index else part
            for index, part in enumerate(statement.split("?"))
        )

    def array(self, values: Sequence[str]) -> str | list[str]:
        """`values` as one statement parameter, for a statement sent straight to the driver
        (SQLAlchemy compiles a bind parameter per value of an `IN`): a JSON array for SQLite's
        `json_each(?)`, an array for PostgreSQL's `= ANY($1::text[])`."""
        return orjson.dumps(values).decode() if self._sqlite else list(values)

    async def copy_rows(
        self,
        connection: AsyncConnection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """PostgreSQL only: `rows` into `table` by one `COPY` (asyncpg's binary copy), in the
        connection's transaction; the driver's errors become `StoreUnavailable`, as
        SQLAlchemy's do. The applier's batches: faster than an executemany (bench/README.md)."""
        import asyncpg

        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None, "a connection in a transaction has its driver's"
        try:
            await driver.copy_records_to_table(table, records=rows, columns=list(columns))
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreUnavailable(f"database error: {type(error).__name__}") from error

    def insert(self, table: Table) -> SqliteInsert | PostgresInsert:
        """An INSERT in this database's dialect, which offers `on_conflict_do_update`."""
        if self._sqlite:
            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    async def migrate(self) -> int:
        """Create or upgrade the schema; return its version.

        On SQLite, processes migrate one at a time (an exclusive lock on `<file>.lock`): the
        first connection of each switches a new file to WAL, and two switching at once can
        deadlock until one gives up with "database is locked"."""
        if not self._sqlite:
            async with self.translated():
                return await self._schema(self._engine)
        path = make_url(self.url).database
        engine = self._engine.execution_options(**{_IMMEDIATE: True})
        if not path or path == ":memory:":
            async with self.translated():
                return await self._schema(engine)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        async with _exclusively(Path(path + ".lock")), self.translated():
            return await self._schema(engine)

    async def _schema(self, engine: AsyncEngine) -> int:
        """Create or upgrade this database's tables (the state store's migrations; a database
        of another schema, such as the key store, says its own)."""
        return await migrate(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    @contextlib.asynccontextmanager
    async def translated(self) -> AsyncIterator[None]:
        """Database errors inside become `StoreUnavailable`."""
        try:
            yield
        except SQLAlchemyError as error:
            raise StoreUnavailable(f"database error: {type(error).__name__}") from error
        except OSError as error:
            raise StoreUnavailable(f"database unreachable: {type(error).__name__}") from error


@contextlib.asynccontextmanager
async def _exclusively(lock_file: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on `lock_file` (waited for in a thread, off the event loop)."""
    with lock_file.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
