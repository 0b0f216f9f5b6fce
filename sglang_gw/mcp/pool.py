"""Sessions per server, reused across requests.

Static servers (the config file) are connected at start; one that fails is logged and
tried again in the background (with growing pauses), and the gateway serves meanwhile. A
request that names it while it is down tries once more itself, and gets a 424 if that
fails too. Per-request servers (a request's `server_url`) get a session per URL and
credentials, kept for the next request; past `max_dynamic_sessions` the least recently
used one is closed, and so is one unused for `dynamic_idle_secs` (as smg's pool does).
A session found dead (its server exited, its connection broke) is opened anew.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from sglang_gw.errors import ConfigError, FailedDependencyError
from sglang_gw.mcp.config import McpSettings, ServerSpec

if TYPE_CHECKING:
    from sglang_gw.mcp.session import McpSession

__all__ = ["McpPool"]

log = logging.getLogger(__name__)

RETRY_FIRST_SECS = 1.0
RETRY_MAX_SECS = 30.0


class McpPool:
    def __init__(self, settings: McpSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._used: dict[tuple[object, ...], float] = {}  # dynamic session → when last handed out
        self.static: dict[str, ServerSpec] = {s.name: s for s in settings.servers}
        self._static: dict[str, McpSession] = {}
        self._dynamic: OrderedDict[tuple[object, ...], McpSession] = OrderedDict()
        self._locks: dict[tuple[object, ...], asyncio.Lock] = {}
        self._retries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect every static server; a `required` one that fails stops the start."""
        results = await asyncio.gather(*(self._connect_static(s) for s in self.static.values()),
                                       return_exceptions=True)
        for spec, result in zip(self.static.values(), results, strict=True):
            if not isinstance(result, FailedDependencyError):
                continue
            if spec.required:
                raise ConfigError(f"MCP server {spec.name!r} is required and could not be reached: {result.message}")
            log.warning("MCP server %r: %s; retrying in the background", spec.name, result.message)
            task = asyncio.get_running_loop().create_task(self._retry(spec), name=f"mcp retry {spec.name}")
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _connect_static(self, spec: ServerSpec) -> McpSession:
        async with self._lock(spec.key):
            current = self._static.get(spec.name)
            if current is not None and current.alive:
                return current
            session = await self._open(spec)
            self._static[spec.name] = session
            log.info("MCP server %r connected (%s)", spec.name, spec.protocol)
            return session

    async def _open(self, spec: ServerSpec) -> McpSession:
        """A new session to `spec`, connected. The SDK is imported here, by the first session a
        gateway opens: a gateway no request or config file asks to reach MCP never loads it."""
        from sglang_gw.mcp.session import McpSession

        session = McpSession(spec, connect_timeout=self.settings.connect_timeout_secs)
        await session.open()
        return session

    async def _retry(self, spec: ServerSpec) -> None:
        pause = RETRY_FIRST_SECS
        while True:
            await asyncio.sleep(pause)
            try:
                await self._connect_static(spec)
                return
            except FailedDependencyError as err:
                log.warning("MCP server %r: %s", spec.name, err.message)
                pause = min(pause * 2, RETRY_MAX_SECS)

    def _lock(self, key: tuple[object, ...]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def session(self, spec: ServerSpec, *, static: bool) -> McpSession:
        """A live session to `spec` (opened now if needed); 424 when it cannot be reached."""
        if static:
            return await self._connect_static(spec)
        key = spec.key
        await self._evict(keep=key)
        async with self._lock(key):
            self._used[key] = self.clock()
            session = self._dynamic.get(key)
            if session is not None and session.alive:
                self._dynamic.move_to_end(key)
                return session
            session = await self._open(spec)
            self._dynamic[key] = session
            self._dynamic.move_to_end(key)
        await self._evict(keep=key)
        return session

    async def _evict(self, keep: tuple[object, ...]) -> None:
        """Close the least recently used sessions past the bound, and the idle ones."""
        idle_before = self.clock() - self.settings.dynamic_idle_secs
        for key in list(self._dynamic):  # oldest first
            over = len(self._dynamic) > self.settings.max_dynamic_sessions
            if key != keep and (over or self._used.get(key, 0.0) < idle_before):
                old = self._dynamic.pop(key)
                self._used.pop(key, None)
                self._locks.pop(key, None)
                await old.close()

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        sessions = [*self._static.values(), *self._dynamic.values()]
        self._static.clear()
        self._dynamic.clear()
        await asyncio.gather(*(s.close() for s in sessions))
