"""History in one SQLite file (`--history-backend sqlite`): the embedded choice for one host.

Two connections to the file. The event loop's own never waits: its busy timeout is zero,
so a store call runs on the loop, whole, as one transaction, when it can go at once (a read
always can, in WAL mode; a write when no other process is writing). When it cannot, SQLite
says so at once (SQLITE_BUSY), the transaction is rolled back untouched, and the call is run
again, whole, by one worker thread of its own whose connection waits for the lock
(`BUSY_TIMEOUT_SECS`). A call that only touches the page cache is cheaper run where it is
than handed to a thread and back (a turn of /v1/responses paid more for the two trips than
for its queries), and nothing on the loop ever sleeps on a lock.

The loop's connection never checkpoints (folding the WAL back into the file, with its
fsyncs): the worker thread does, every `CHECKPOINT_EVERY` writes made on the loop.

WAL mode lets several gateway processes on the host (`--workers N`) share the file: one
writes at a time, the others wait (in their worker thread), and readers read the last
committed state without waiting for anyone. `synchronous=NORMAL` (WAL's usual pairing)
syncs at checkpoints, not at each commit: a committed response survives a crash or restart
of the gateway, but a power loss or OS crash may lose the last commits since the last
checkpoint; the file is never corrupted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sglang_gw.history.base import HistoryConfig, HistoryUnavailable
from sglang_gw.history.sql import SqlHistory

__all__ = ["SqliteHistory"]

T = TypeVar("T")
log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"\$(\d+)")
BUSY_TIMEOUT_SECS = 10.0  # how long a write in the worker thread waits for another process's write
CHECKPOINT_EVERY = 200  # loop writes between checkpoints (a turn writes ~5 pages; SQLite's own default is 1000)
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


@functools.lru_cache(maxsize=256)
def _sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class _Busy(Exception):
    """The loop's connection would have had to wait: run the call in the worker thread."""


_BUSY_AGAIN = object()  # a batched write that met the lock taken: to the worker thread


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
    # JSON goes in as msgspec wrote it (UTF-8), not decoded to `str` for the driver to encode
    # again: bound as a BLOB, and CAST to TEXT (the file's encoding is UTF-8: the bytes stay as
    # they are). A bytearray, not bytes: the driver binds it at once, where bytes first go
    # through its adapter look-up (a failed one, with an exception raised and cleared, each).
    json_text = "CAST({} AS TEXT)"
    json_arg = bytearray

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-sqlite")
        self._conn: sqlite3.Connection | None = None  # the worker thread's: waits for locks
        self._loop_conn: sqlite3.Connection | None = None  # the event loop's: never waits
        self._loop_writes = 0  # since the last checkpoint
        self._checkpoint: Future[None] | None = None
        self._batch: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._data_version: int | None = None

    async def open(self) -> None:
        self._conn = await self._in_thread(self._connect, BUSY_TIMEOUT_SECS, True)
        try:
            self._loop_conn = await self._in_thread(self._connect, 0.0, False)
        except HistoryUnavailable:
            await self._in_thread(self._conn.close)
            self._conn = None
            raise

    def _connect(self, timeout: float, checkpoints: bool) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opened in the worker thread (file I/O); the loop's is then used on the loop only.
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as err:
            raise HistoryUnavailable(f"history storage: cannot open SQLite file {self.path}: {err}") from err
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL's usual pairing: no fsync per commit, never corrupt
            if not checkpoints:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as err:
            conn.close()
            raise HistoryUnavailable(f"history storage: cannot use SQLite file {self.path}: {err}") from err
        return conn

    async def close(self) -> None:
        conns = [c for c in (self._loop_conn, self._conn) if c is not None]
        self._loop_conn = self._conn = None
        for conn in conns:
            await self._in_thread(conn.close)
        self._thread.shutdown(wait=False)

    async def run(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        """`work` in the worker thread, waiting for the lock as long as it takes."""
        conn = self._conn
        if conn is None:
            raise HistoryUnavailable("history storage: the SQLite store is closed")
        return await self._in_thread(_transaction, conn, work, args, write, True)

    async def run_quick(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        """`work` (which does nothing slow but its queries) on the loop when the database lets
        it go at once; otherwise in the worker thread, as `run`."""
        conn = self._loop_conn
        if conn is None:
            raise HistoryUnavailable("history storage: the SQLite store is closed")
        if write:
            # Joins the writes asked for in this turn of the loop: they commit together, at the
            # next turn (each still all or nothing: see _batch_transaction).
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            self._batch.append((work, args, future))
            if len(self._batch) == 1:
                loop.call_soon(self._commit_batch)
            return await future  # type: ignore[no-any-return]
        try:
            return _transaction(conn, work, args, False, False)
        except _Busy:
            return await self.run(work, *args, write=False)

    def _commit_batch(self) -> None:
        # A write whose caller has gone (cancelled) is still made, as one handed to a thread would be.
        batch, self._batch = self._batch, []
        conn = self._loop_conn
        if not batch:
            return
        if conn is None:
            _settle(batch, [HistoryUnavailable("history storage: the SQLite store is closed")] * len(batch))
            return
        try:
            outcomes = _batch_transaction(conn, [(work, args) for work, args, _ in batch])
        except _Busy:  # another process is writing: each waits for it in the worker thread
            for work, args, future in batch:
                _follow(asyncio.ensure_future(self.run(work, *args)), future)
            return
        except HistoryUnavailable as err:  # BEGIN or COMMIT failed: nothing of the batch was written
            outcomes = [err] * len(batch)
        for (work, args, future), outcome in zip(batch, outcomes, strict=True):
            if outcome is _BUSY_AGAIN:
                _follow(asyncio.ensure_future(self.run(work, *args)), future)
        _settle(batch, outcomes)
        self._wrote(len(batch))

    def others_committed(self) -> bool:
        """Whether another connection (another process, or this store's worker thread) has
        committed since the last call: SQLite's `data_version`, no I/O beyond the WAL index."""
        conn = self._loop_conn
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0] if conn is not None else None
        except sqlite3.Error:
            version = None  # cannot tell: say it moved
        moved = version is None or version != self._data_version
        self._data_version = version
        return moved

    def _wrote(self, count: int) -> None:
        self._loop_writes += count
        due = self._loop_writes >= CHECKPOINT_EVERY
        if due and (self._checkpoint is None or self._checkpoint.done()) and self._conn is not None:
            self._loop_writes = 0
            self._checkpoint = self._thread.submit(_checkpoint, self._conn)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            future = asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        except RuntimeError as err:  # the thread was shut down: the store is closed
            raise HistoryUnavailable("history storage: the SQLite store is closed") from err
        return await future


def _transaction(conn: sqlite3.Connection, work: Callable[..., T], args: tuple[Any, ...], write: bool,
                 wait: bool) -> T:
    """`work` in one transaction. A writer takes the write lock at once, so two processes
    never deadlock upgrading; a reader takes none. Without `wait`, a lock that is not free
    at once raises _Busy with nothing done."""
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = work(_Tx(conn), *args)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    except sqlite3.Error as err:
        if not wait and (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF in _BUSY:
            raise _Busy from err
        raise _unavailable(err) from err
    return result


def _batch_transaction(conn: sqlite3.Connection,
                       batch: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
    """The batch in one write transaction, never waiting for the lock (_Busy: nothing done).
    If one of them fails, nothing of the batch is kept and each runs again in a transaction
    of its own, so that one's failure takes no other along. Returns each one's result, the
    exception it raised, or _BUSY_AGAIN for one that met the lock taken on its own turn."""
    if len(batch) > 1:
        try:
            return _transaction(conn, _all, (batch,), True, False)
        except _Busy:
            raise
        except Exception:  # noqa: BLE001, S110 — one of them failed: each on its own, below
            pass
    outcomes: list[Any] = []
    for work, args in batch:
        try:
            outcomes.append(_transaction(conn, work, args, True, False))
        except _Busy:
            if len(batch) == 1:
                raise
            outcomes.append(_BUSY_AGAIN)
        except Exception as err:  # noqa: BLE001 — the caller's to raise
            outcomes.append(err)
    return outcomes


def _all(tx: _Tx, batch: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
    return [work(tx, *args) for work, args in batch]


def _settle(batch: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]],
            outcomes: list[Any]) -> None:
    for (_, _, future), outcome in zip(batch, outcomes, strict=True):
        if future.done() or outcome is _BUSY_AGAIN:
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _follow(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    def done(_: asyncio.Future[Any]) -> None:
        if target.done():
            if not source.cancelled():
                source.exception()  # retrieved: the waiter has gone
            return
        if source.cancelled():
            target.cancel()
        elif (err := source.exception()) is not None:
            target.set_exception(err)
        else:
            target.set_result(source.result())

    source.add_done_callback(done)


def _unavailable(err: sqlite3.Error) -> HistoryUnavailable:
    return HistoryUnavailable(f"history storage (SQLite) failed: {err}")


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite ended the transaction itself; nothing of it was committed


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the WAL back into the file as far as no reader needs it (never waits for one)."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as err:  # the next one retries; the WAL only grows meanwhile
        log.warning("history storage: SQLite checkpoint failed: %s", err)


class SqliteHistory(SqlHistory):
    def __init__(self, config: HistoryConfig) -> None:
        super().__init__(SqliteDatabase(Path(config.sqlite_path)), cache_chains=True)
