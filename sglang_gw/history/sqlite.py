"""History in one SQLite file (`--history-backend sqlite`): the embedded choice for one host.

aiosqlite runs the stdlib `sqlite3` connection in its own thread, so no query blocks the
event loop. One connection, used by one transaction at a time (an asyncio lock), in WAL
mode with a busy timeout, so several gateway processes on the host (`--workers N`) can
share the file: SQLite lets one of them write at a time and the others wait.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from sglang_gw.history.base import HistoryConfig, HistoryUnavailable
from sglang_gw.history.sql import SqlHistory

__all__ = ["SqliteHistory"]

_PLACEHOLDER = re.compile(r"\$(\d+)")
BUSY_TIMEOUT_MS = 10_000  # how long a write waits for another process's write to finish


def _sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class _Tx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        async with self.conn.execute(_sqlite(sql), args) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.conn.execute(_sqlite(sql), args) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.conn.executemany(_sqlite(sql), rows)


class SqliteDatabase:
    lock_rows = ""  # a writing transaction holds the database's write lock throughout (BEGIN IMMEDIATE)
    lock_schema = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Tried with the stdlib first: aiosqlite leaves its thread behind when a connect fails.
            await asyncio.to_thread(_try_open, self.path)
            conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (sqlite3.Error, OSError) as err:
            raise HistoryUnavailable(f"history storage: cannot open SQLite file {self.path}: {err}") from err
        try:
            await conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as err:
            await conn.close()
            raise HistoryUnavailable(f"history storage: cannot use SQLite file {self.path}: {err}") from err
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await conn.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[_Tx]:
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise HistoryUnavailable("history storage: the SQLite store is closed")
            try:
                # A writer takes the write lock at once (no upgrade that could deadlock with
                # another process); a reader reads a snapshot and blocks nobody (WAL).
                await conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except (sqlite3.Error, ValueError) as err:
                raise _unavailable(err) from err
            try:
                yield _Tx(conn)
            except BaseException as err:
                await _rollback(conn)
                if isinstance(err, sqlite3.Error | ValueError):
                    raise _unavailable(err) from err
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as err:
                await _rollback(conn)
                raise _unavailable(err) from err


class SqliteHistory(SqlHistory):
    def __init__(self, config: HistoryConfig) -> None:
        super().__init__(SqliteDatabase(Path(config.sqlite_path)))


def _try_open(path: Path) -> None:
    sqlite3.connect(path).close()


async def _rollback(conn: aiosqlite.Connection) -> None:
    try:
        await conn.execute("ROLLBACK")
    except (sqlite3.Error, ValueError):
        pass  # no transaction left to roll back (SQLite ended it on the error)


def _unavailable(err: Exception) -> HistoryUnavailable:
    return HistoryUnavailable(f"history storage (SQLite) failed: {err}")
