"""Fresh, started history stores for tests, one per backend that keeps history.

PostgreSQL is the machine's server (docs/testing.md): `SGLANG_GW_TEST_POSTGRES_URL`,
default postgresql://postgres@127.0.0.1:5432/test. Each store gets a schema of its own,
made for it and dropped after, so runs never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from sglang_gw.history import HistoryConfig, HistoryStore, open_history
from sglang_gw.ids import random_hex

__all__ = ["STORING_BACKENDS", "TcpProxy", "ThreadedTcpProxy", "history_config", "open_store", "postgres_schema",
           "postgres_url", "started", "storage"]

STORING_BACKENDS = ["memory", "sqlite", "postgres"]


def postgres_url() -> str:
    return os.environ.get("SGLANG_GW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def in_schema(url: str, schema: str) -> str:
    """The URL with the connection's `search_path` set to `schema` (libpq's `options`)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A URL whose tables land in a fresh schema, dropped (with everything in it) after."""
    schema = f"history_test_{random_hex()[:16]}"
    await _admin(f"CREATE SCHEMA {schema}")
    try:
        yield in_schema(postgres_url(), schema)
    finally:
        await _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def _admin(statement: str) -> None:
    await asyncio.to_thread(_admin_now, statement)


def _admin_now(statement: str) -> None:
    try:
        conn = psycopg.connect(postgres_url(), connect_timeout=10, autocommit=True)
    except psycopg.Error as err:
        pytest.fail(f"PostgreSQL at {postgres_url()} (SGLANG_GW_TEST_POSTGRES_URL) is not reachable: {err}")
    with conn:
        conn.execute(statement)


@contextmanager
def history_config(backend: str, tmp_path: Path) -> Iterator[HistoryConfig]:
    """`storage` for synchronous tests (a gateway in its thread)."""
    if backend != "postgres":
        yield _config(backend, tmp_path, {})
        return
    schema = f"history_test_{random_hex()[:16]}"
    _admin_now(f"CREATE SCHEMA {schema}")
    try:
        yield HistoryConfig(backend=backend, postgres_db_url=in_schema(postgres_url(), schema))
    finally:
        _admin_now(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _config(backend: str, tmp_path: Path, options: dict[str, object]) -> HistoryConfig:
    if backend == "sqlite":
        options.setdefault("sqlite_path", tmp_path / "history.sqlite3")
    return HistoryConfig(backend=backend, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def storage(backend: str, tmp_path: Path, **options: object) -> AsyncIterator[HistoryConfig]:
    """The configuration of a store of `backend` alone in its own file or schema (dropped after)."""
    if backend == "postgres":
        async with postgres_schema() as url:
            yield HistoryConfig(backend=backend, postgres_db_url=url, **options)  # type: ignore[arg-type]
        return
    yield _config(backend, tmp_path, options)


@asynccontextmanager
async def open_store(backend: str, tmp_path: Path, **options: object) -> AsyncIterator[HistoryStore]:
    """A started store of `backend`, alone in its own file or schema, closed (and dropped) after."""
    async with storage(backend, tmp_path, **options) as config, started(config) as store:
        yield store


@asynccontextmanager
async def started(config: HistoryConfig) -> AsyncIterator[HistoryStore]:
    """A store of `config`, started, closed after."""
    store = open_history(config)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


class TcpProxy:
    """A loopback TCP relay to a database, to stop and start as an outage would: `stop`
    ends every relayed connection and refuses new ones; `start` listens on the same port."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._parts = parts
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        netloc = self._parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(self._parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class ThreadedTcpProxy:
    """A TcpProxy on an event loop of its own thread, for synchronous tests."""

    def __init__(self, url: str) -> None:
        self.proxy = TcpProxy(url)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="tcp-proxy")
        self.thread.start()

    @property
    def url(self) -> str:
        return self.proxy.url

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop).result(10)

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
