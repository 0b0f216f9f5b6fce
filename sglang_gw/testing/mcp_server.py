"""A small MCP server for tests and demos, on the official SDK's server side.

    python -m sglang_gw.testing.mcp_server stdio
    python -m sglang_gw.testing.mcp_server streamable --port 0   (prints "listening on PORT")
    python -m sglang_gw.testing.mcp_server sse --port 0

Tools: `add(a, b)`, `weather(city)`, `sleep(seconds)` (for timeouts), `fail(reason)`
(a tool error), `grow(name)` (adds a tool, then sends `notifications/tools/list_changed`)
and `crash()` (the process exits at once).
`--prefix P` renames every tool to P + name (two servers, distinct tools).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from collections.abc import Sequence

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["build_server", "main"]


def build_server(prefix: str = "") -> MCPServer:
    server = MCPServer("sglang-gw-test-tools", log_level="WARNING")

    @server.tool(name=f"{prefix}add", description="Add two integers.")
    def add(a: int, b: int) -> str:
        return str(a + b)

    @server.tool(name=f"{prefix}weather", description="Today's weather in a city.")
    def weather(city: str) -> str:
        return f"Sunny in {city}, 21 degrees"

    @server.tool(name=f"{prefix}sleep", description="Wait this many seconds, then answer.")
    async def sleep(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "awake"

    @server.tool(name=f"{prefix}fail", description="Always fails with the reason given.")
    def fail(reason: str) -> str:
        raise ToolError(reason)

    @server.tool(name=f"{prefix}grow", description="Add a tool of this name, and tell the client the list changed.")
    async def grow(name: str, ctx: Context) -> str:
        server.add_tool(lambda: f"I am {name}", name=name, description="A tool added at run time.")
        await ctx.session.send_tool_list_changed()
        return f"added {name}"

    @server.tool(name=f"{prefix}crash", description="End the server process at once (a crash).")
    def crash() -> str:
        os._exit(3)

    return server


async def _serve_http(server: MCPServer, protocol: str, port: int) -> None:
    app = server.sse_app() if protocol == "sse" else server.streamable_http_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", choices=["stdio", "sse", "streamable"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--prefix", default="")
    args = p.parse_args(argv)
    server = build_server(args.prefix)
    if args.protocol == "stdio":
        server.run("stdio")
    else:
        asyncio.run(_serve_http(server, args.protocol, args.port))


if __name__ == "__main__":
    main()
