"""MCP servers for the /v1/responses tool loop, on the official `mcp` SDK (docs/mcp.md).

    config.py    servers from --mcp-config-path (smg's YAML/JSON shape), and the MCP settings
    servers.py   which servers a request may reach: `mcp` tools checked, allowed hosts
    session.py   one connection to one server (stdio, SSE, streamable HTTP), its tools
    pool.py      sessions per server, reused across requests; static ones kept connected
    calls.py     a tool call with its timeout, its result as OpenAI's `output` or `error`

The loop itself (generate, call, generate again) runs in responses/mcp_loop.py, above the
pipeline; this package knows nothing of models or items.
"""

from __future__ import annotations

from sglang_gw.mcp.calls import CallResult, call_tool
from sglang_gw.mcp.config import McpSettings, ServerSpec, load_mcp_config
from sglang_gw.mcp.pool import McpPool
from sglang_gw.mcp.servers import McpToolSpec, checked_mcp_tools
from sglang_gw.mcp.session import McpSession, ToolInfo

__all__ = ["CallResult", "McpPool", "McpSession", "McpSettings", "McpToolSpec", "ServerSpec", "ToolInfo", "call_tool",
           "checked_mcp_tools", "load_mcp_config"]
