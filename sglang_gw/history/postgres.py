"""History in PostgreSQL (`--history-backend postgres`): shared by several gateway processes
or hosts, so a conversation continues on whichever gateway the next request reaches.

asyncpg: an asyncio-native driver (no thread per query, no libpq to install; binary wheels)
with its own connection pool, bounded by `--postgres-pool-max`. Row locks (`FOR UPDATE`)
make two gateways appending to one conversation take turns; an advisory lock makes their
start-up migrations take turns. Connection settings in the URL's query other than the
driver's own are sent as server settings (`?search_path=gateway` keeps the tables in a
schema of that name).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from sglang_gw.history.base import HistoryConfig, HistoryUnavailable
from sglang_gw.history.sql import SqlHistory

__all__ = ["PostgresHistory"]

CONNECT_TIMEOUT_SECS = 10.0
COMMAND_TIMEOUT_SECS = 30.0  # a query stuck longer than this (a hung server) fails the request with 503
_SCHEMA_LOCK_KEY = 0x5F6C_6869_7374  # any constant: the gateways' migrations share this advisory lock
# What a dead, unreachable, closed or misbehaving database raises through asyncpg.
_OUTAGES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class _Tx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return await self.conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self.conn.execute(sql, *args)
        last = status.rsplit(" ", 1)[-1]  # "DELETE 1", "INSERT 0 1", "UPDATE 3"
        return int(last) if last.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.conn.executemany(sql, rows)


class PostgresDatabase:
    lock_rows = " FOR UPDATE"
    lock_schema = f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY})"

    def __init__(self, url: str, pool_max: int) -> None:
        self.url = url
        self.pool_max = pool_max
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_max,
                                                   timeout=CONNECT_TIMEOUT_SECS,
                                                   command_timeout=COMMAND_TIMEOUT_SECS)
        except (*_OUTAGES, ValueError) as err:
            raise HistoryUnavailable(f"history storage: cannot connect to PostgreSQL at {_safe(self.url)}: "
                                     f"{err}") from err

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[_Tx]:
        pool = self._pool
        if pool is None:
            raise HistoryUnavailable("history storage: the PostgreSQL store is closed")
        try:
            async with pool.acquire(timeout=CONNECT_TIMEOUT_SECS) as conn, conn.transaction(readonly=not write):
                yield _Tx(conn)
        except _OUTAGES as err:
            raise HistoryUnavailable(f"history storage (PostgreSQL) failed: {err}") from err


class PostgresHistory(SqlHistory):
    def __init__(self, config: HistoryConfig) -> None:
        if not config.postgres_db_url:
            raise HistoryUnavailable("history storage: --postgres-db-url is not set")
        super().__init__(PostgresDatabase(config.postgres_db_url, config.postgres_pool_max))


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"
