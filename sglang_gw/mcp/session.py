"""One connection to one MCP server, on the official SDK's `ClientSession`.

The SDK's transports are anyio context managers that must be entered and left in the same
task, so each session runs in a task of its own (`_run`) that opens the transport and the
session, says it is ready, and holds them until `close`. Calls from request tasks go
through the session object, which the SDK makes safe to share: one connection serves many
requests at once. The tool list is asked once and asked again only after the server sends
`notifications/tools/list_changed`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from sglang_gw.errors import FailedDependencyError
from sglang_gw.mcp.config import ServerSpec

__all__ = ["McpSession", "ToolInfo", "describe_error"]

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class ToolInfo:
    name: str
    description: str | None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None


def describe_error(err: BaseException) -> str:
    """The innermost cause of a connection failure (anyio wraps them in groups), in one line."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class McpSession:
    def __init__(self, spec: ServerSpec, *, connect_timeout: float) -> None:
        self.spec = spec
        self.connect_timeout = connect_timeout
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._tools: list[ToolInfo] | None = None

    @property
    def where(self) -> str:
        """The server, for messages: its URL, or its command (never its headers)."""
        return self.spec.url or self.spec.command

    @property
    def alive(self) -> bool:
        return self._session is not None and self._task is not None and not self._task.done()

    async def open(self) -> None:
        """Connect and initialise; FailedDependencyError when the server cannot be reached."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run(ready), name=f"mcp {self.where}")
        try:
            async with asyncio.timeout(self.connect_timeout):
                await asyncio.shield(ready)
        except TimeoutError:
            await self.close()
            raise FailedDependencyError(f"MCP server {self.where} did not answer within {self.connect_timeout:g}s") \
                from None
        except Exception as err:
            await self.close()
            raise FailedDependencyError(f"MCP server {self.where} could not be reached: {describe_error(err)}") \
                from None

    async def _streams(self, stack: AsyncExitStack) -> Any:
        """The transport's (read, write) pair, entered into `stack`."""
        spec = self.spec
        if spec.protocol == "stdio":
            params = StdioServerParameters(command=spec.command, args=list(spec.args), env=dict(spec.env))
            return await stack.enter_async_context(stdio_client(params))
        if spec.protocol == "sse":
            return await stack.enter_async_context(
                sse_client(spec.url, headers=dict(spec.headers), timeout=self.connect_timeout))
        # The SDK's own client factory (MCP's connect and read timeouts), from its private
        # module: the transport takes a client only when headers are to be set.
        http = await stack.enter_async_context(create_mcp_http_client(headers=dict(spec.headers)))
        return await stack.enter_async_context(streamable_http_client(spec.url, http_client=http))

    async def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            async with AsyncExitStack() as stack:
                streams = await self._streams(stack)
                session = await stack.enter_async_context(
                    ClientSession(streams[0], streams[1], message_handler=self._on_message))
                await session.initialize()
                self._session = session
                ready.set_result(None)
                await self._closing.wait()
        except BaseException as err:  # noqa: BLE001 - the opener or the log gets every ending
            if not ready.done():
                ready.set_exception(err if isinstance(err, Exception) else ConnectionError(describe_error(err)))
            elif not self._closing.is_set():
                log.warning("MCP server %s: connection lost: %s", self.where, describe_error(err))
            if isinstance(err, asyncio.CancelledError):
                raise
        finally:
            self._session = None

    async def _on_message(self, message: object) -> None:
        message = getattr(message, "root", message)
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._tools = None  # listed again on next use
        elif isinstance(message, Exception):
            log.warning("MCP server %s: %s", self.where, describe_error(message))

    def _live(self) -> ClientSession:
        if self._session is None or not self.alive:
            raise FailedDependencyError(f"MCP server {self.where}: the connection is closed")
        return self._session

    async def tools(self) -> list[ToolInfo]:
        """The server's tools, every page; cached until the server says they changed."""
        if self._tools is not None:
            return self._tools
        session, tools, cursor = self._live(), [], None
        params: mcp_types.PaginatedRequestParams | None
        try:
            while True:
                params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await asyncio.wait_for(session.list_tools(params=params), self.connect_timeout)
                tools += [ToolInfo(t.name, t.description, dict(t.input_schema or {}),
                                   t.annotations.model_dump(exclude_none=True) if t.annotations else None)
                          for t in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
        except (TimeoutError, Exception) as err:
            if isinstance(err, FailedDependencyError):
                raise
            self.broken()  # a server that cannot list its tools is not worth keeping
            raise FailedDependencyError(f"MCP server {self.where}: listing tools failed: {describe_error(err)}") \
                from None
        self._tools = tools
        return tools

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> mcp_types.CallToolResult:
        try:
            return await self._live().call_tool(name, arguments, read_timeout_seconds=timeout)
        except MCPError as err:
            if err.error.code == mcp_types.CONNECTION_CLOSED:
                self.broken()
            raise
        except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.broken()
            raise

    def broken(self) -> None:
        """The connection is gone (the server exited, its session ended): this session is
        not alive any more, and the pool opens a new one for the next request."""
        self._closing.set()
        self._session = None

    async def close(self) -> None:
        self._closing.set()
        task, self._task = self._task, None
        if task is None or task.done():
            return
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            await asyncio.wait({task})
        except Exception:  # noqa: BLE001, S110 - already logged by _run
            pass
