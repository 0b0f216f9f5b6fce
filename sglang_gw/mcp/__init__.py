"""MCP servers for the /v1/responses tool loop, on the official `mcp` SDK (docs/mcp.md).

    config.py    servers from --mcp-config-path (smg's YAML/JSON shape), and the MCP settings
    servers.py   which servers a request may reach: `mcp` tools checked, allowed hosts
    session.py   one connection to one server (stdio, SSE, streamable HTTP), its tools
    pool.py      sessions per server, reused across requests; static ones kept connected
    calls.py     a tool call with its timeout, its result as OpenAI's `output` or `error`

The loop itself (generate, call, generate again) runs in responses/mcp_loop.py, above the
pipeline; this package knows nothing of models or items.

Only session.py and calls.py import the SDK (about a second of CPU, most of a gateway's
start-up), and nothing imports them until the pool opens its first session: the names
below are resolved on first use (PEP 562), so the configuration, the pool and the loop's
modules load without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sglang_gw.mcp.calls import CallResult, call_tool
    from sglang_gw.mcp.config import McpSettings, ServerSpec, load_mcp_config
    from sglang_gw.mcp.pool import McpPool
    from sglang_gw.mcp.servers import McpToolSpec, checked_mcp_tools
    from sglang_gw.mcp.session import McpSession, ToolInfo

__all__ = ["CallResult", "McpPool", "McpSession", "McpSettings", "McpToolSpec", "ServerSpec", "ToolInfo", "call_tool",
           "checked_mcp_tools", "load_mcp_config"]

# Public name → the module (of this package) that defines it.
_HOMES = {"CallResult": "calls", "call_tool": "calls", "McpSettings": "config", "ServerSpec": "config",
          "load_mcp_config": "config", "McpPool": "pool", "McpToolSpec": "servers", "checked_mcp_tools": "servers",
          "McpSession": "session", "ToolInfo": "session"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value
