"""History in one SQLite file (`--history-backend sqlite`): the embedded choice for one host.

The stdlib `sqlite3` connection lives in one worker thread of its own, and each store call
runs there whole, as one transaction: one trip off the event loop per call, and never a
query on the loop. WAL mode with a busy timeout lets several gateway processes on the host
(`--workers N`) share the file: one writes at a time, the others wait, and readers read the
last committed state without waiting for anyone.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sglang_gw.history.base import HistoryConfig, HistoryUnavailable
from sglang_gw.history.sql import SqlHistory

__all__ = ["SqliteHistory"]

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\$(\d+)")
BUSY_TIMEOUT_SECS = 10.0  # how long a write waits for another process's write to finish


def _sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return self.conn.execute(_sqlite(sql), args).fetchall()

    def execute(self, sql: str, *args: Any) -> int:
        return self.conn.execute(_sqlite(sql), args).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(_sqlite(sql), rows)


class SqliteDatabase:
    lock_rows = ""  # a writing transaction holds the database's write lock throughout (BEGIN IMMEDIATE)
    lock_schema = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._conn = await self._in_thread(self._connect)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECS, isolation_level=None,
                                   check_same_thread=False)  # used by the one worker thread only
        except (sqlite3.Error, OSError) as err:
            raise HistoryUnavailable(f"history storage: cannot open SQLite file {self.path}: {err}") from err
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL's usual pairing: no fsync per commit, never corrupt
        except sqlite3.Error as err:
            conn.close()
            raise HistoryUnavailable(f"history storage: cannot use SQLite file {self.path}: {err}") from err
        return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._in_thread(conn.close)
        self._thread.shutdown(wait=False)

    async def run(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        conn = self._conn
        if conn is None:
            raise HistoryUnavailable("history storage: the SQLite store is closed")
        return await self._in_thread(_transaction, conn, work, args, write)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            future = asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        except RuntimeError as err:  # the thread was shut down: the store is closed
            raise HistoryUnavailable("history storage: the SQLite store is closed") from err
        return await future


def _transaction(conn: sqlite3.Connection, work: Callable[..., T], args: tuple[Any, ...], write: bool) -> T:
    """`work` in one transaction (in the worker thread). A writer takes the write lock at
    once, so two processes never deadlock upgrading; a reader takes none."""
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    except sqlite3.Error as err:
        raise _unavailable(err) from err
    try:
        result = work(_Tx(conn), *args)
        conn.execute("COMMIT")
    except BaseException as err:
        _rollback(conn)
        if isinstance(err, sqlite3.Error):
            raise _unavailable(err) from err
        raise
    return result


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite ended the transaction itself; nothing of it was committed


def _unavailable(err: sqlite3.Error) -> HistoryUnavailable:
    return HistoryUnavailable(f"history storage (SQLite) failed: {err}")


class SqliteHistory(SqlHistory):
    def __init__(self, config: HistoryConfig) -> None:
        super().__init__(SqliteDatabase(Path(config.sqlite_path)))
