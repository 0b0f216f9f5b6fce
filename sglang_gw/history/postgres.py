"""History in PostgreSQL (`--history-backend postgres`): shared by several gateway processes
or hosts, so a conversation continues on whichever gateway the next request reaches.

psycopg 3 (the `binary` wheel ships libpq) with psycopg_pool's connection pool, bounded by
`--postgres-pool-max`: the same DB-API code as the SQLite backend (sql.py), each store call
run whole in a worker thread, one trip off the event loop however many statements it takes.
Row locks (`FOR UPDATE`) make two gateways appending to one conversation take turns; an
advisory lock makes their start-up migrations take turns. `--postgres-db-url` is a libpq
URL: `?options=-csearch_path%3Dgw` keeps the tables in the schema `gw`.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from sglang_gw.history.base import HistoryConfig, HistoryUnavailable
from sglang_gw.history.sql import SqlHistory

__all__ = ["PostgresHistory"]

T = TypeVar("T")
CONNECT_TIMEOUT_SECS = 10
# A server that stops answering mid-query (hung, or gone without a reset) fails the call
# after this long instead of holding its thread: libpq's TCP_USER_TIMEOUT, in ms.
TCP_USER_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_KEY = 0x5F6C_6869_7374  # any constant: the gateways' migrations share this advisory lock
_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=256)
def _psycopg(sql: str) -> str:
    return _PLACEHOLDER.sub(r"%(p\1)s", sql)


def _named(sql: str, args: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`$n` placeholders as psycopg's named ones (a `$n` may be used twice)."""
    return _psycopg(sql), {f"p{i}": arg for i, arg in enumerate(args, 1)}


class _Tx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return self.conn.execute(*_named(sql, args)).fetchall()

    def execute(self, sql: str, *args: Any) -> int:
        return self.conn.execute(*_named(sql, args)).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(_psycopg(sql),
                                   [{f"p{i}": arg for i, arg in enumerate(row, 1)} for row in rows])


class PostgresDatabase:
    lock_rows = " FOR UPDATE"
    lock_schema = f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY})"
    json_text = "{}"  # bound as `str`
    json_arg = staticmethod(bytes.decode)

    def __init__(self, url: str, pool_max: int, wait_secs: float) -> None:
        """`wait_secs`: how long a call waits for a pooled connection (an outage answers 503
        after this), and how long the pool keeps retrying one lost connection (its backoff
        grows to at most this, so a recovered server is used again within seconds)."""
        self.url = url
        self._threads = ThreadPoolExecutor(max_workers=pool_max, thread_name_prefix="history-postgres")
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_max, open=False, timeout=wait_secs,
                                    reconnect_timeout=wait_secs,
                                    check=ConnectionPool.check_connection,  # a connection dead since its last use
                                    kwargs={"connect_timeout": CONNECT_TIMEOUT_SECS,
                                            "tcp_user_timeout": TCP_USER_TIMEOUT_MS})
        self._open = False

    async def open(self) -> None:
        await self._in_thread(self._connect)
        self._open = True

    def _connect(self) -> None:
        try:
            # One connection first, for the driver's own reason if it fails (the pool only times out).
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_SECS).close()
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECS)
        except (psycopg.Error, PoolTimeout) as err:
            raise HistoryUnavailable(f"history storage: cannot connect to PostgreSQL at {_safe(self.url)}: "
                                     f"{str(err).strip()}") from err

    async def close(self) -> None:
        if self._open:
            self._open = False
            await self._in_thread(self._pool.close)
        self._threads.shutdown(wait=False)

    async def run(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        if not self._open:
            raise HistoryUnavailable("history storage: the PostgreSQL store is closed")
        return await self._in_thread(self._transaction, work, args)

    async def run_quick(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        return await self.run(work, *args, write=write)  # every query is a network round trip: never on the loop

    def others_committed(self) -> bool:
        return True  # other hosts' commits cannot be seen from here

    def _transaction(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            with self._pool.connection() as conn, conn.transaction():
                return work(_Tx(conn), *args)
        except (psycopg.Error, PoolTimeout) as err:
            raise HistoryUnavailable(f"history storage (PostgreSQL) failed: {str(err).strip()}") from err

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            future = asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)
        except RuntimeError as err:  # the threads were shut down: the store is closed
            raise HistoryUnavailable("history storage: the PostgreSQL store is closed") from err
        return await future


class PostgresHistory(SqlHistory):
    def __init__(self, config: HistoryConfig) -> None:
        if not config.postgres_db_url:
            raise HistoryUnavailable("history storage: --postgres-db-url is not set")
        super().__init__(PostgresDatabase(config.postgres_db_url, config.postgres_pool_max,
                                          config.postgres_wait_secs))


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"
