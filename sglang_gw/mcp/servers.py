"""The `mcp` tools of a request, checked before anything is connected.

A tool either names a static server by `server_label` (no `server_url`), or gives a
`server_url`, which must be http(s) to a host the operator allows (`--mcp-allowed-hosts`,
default none): the gateway must not become a way into its own network, so a refused URL is
a 400 before a single packet is sent, and a `stdio:` URL or a `command` is never run. The
transport of a URL is SSE when its path ends in `/sse` (as smg decides), streamable HTTP
otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from sglang_gw.errors import InvalidRequestError
from sglang_gw.mcp.config import ServerSpec

__all__ = ["McpToolSpec", "RequestServer", "checked_mcp_tools", "host_allowed"]


class _ToolNames(msgspec.Struct, kw_only=True):
    tool_names: list[str] | None = None
    read_only: bool | None = None


class _ApprovalFilter(msgspec.Struct, kw_only=True):
    always: _ToolNames | None = None
    never: _ToolNames | None = None


class McpToolSpec(msgspec.Struct, kw_only=True):
    """An `mcp` entry of a request's `tools`, in OpenAI's shape."""

    type: Literal["mcp"]
    server_label: Annotated[str, Meta(min_length=1, max_length=256)]
    server_url: str | None = None
    server_description: str | None = None
    headers: dict[str, str] | None = None
    authorization: str | None = None
    allowed_tools: list[str] | _ToolNames | None = None
    require_approval: Literal["always", "never"] | _ApprovalFilter | None = None
    connector_id: str | None = None
    command: Any = None  # never accepted: named only to be refused clearly


@dataclass(slots=True, frozen=True)
class RequestServer:
    """One server a request may use, and what it may use of it."""

    label: str
    spec: ServerSpec
    static: bool
    allowed: frozenset[str] | None  # None: every tool
    approval: McpToolSpec  # its require_approval, read by `needs_approval`
    param: str  # `tools[i]`, for errors

    def needs_approval(self, tool: str) -> bool:
        rule = self.approval.require_approval
        if rule is None or rule == "never":
            return False
        if rule == "always":
            return True
        assert isinstance(rule, _ApprovalFilter)
        if rule.never is not None and rule.never.tool_names and tool in rule.never.tool_names:
            return False
        return bool(rule.always is not None and (rule.always.tool_names is None or tool in rule.always.tool_names))


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """Whether `url`'s host (or host:port) is one the operator allows."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    shown = f"[{host}]" if ":" in host else host
    wanted = {a.lower() for a in allowed}
    return bool(host) and (shown in wanted or f"{shown}:{port}" in wanted)


def _url_spec(tool: McpToolSpec, param: str, allowed_hosts: tuple[str, ...]) -> ServerSpec:
    url = tool.server_url or ""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidRequestError(f"`server_url` must be an http or https URL; a {scheme or 'schemeless'!r} URL is "
                                  "not accepted in a request (stdio servers come only from the gateway's config)",
                                  param=f"{param}.server_url")
    if not host_allowed(url, allowed_hosts):
        host = urlsplit(url).netloc.rpartition("@")[2][:100]
        raise InvalidRequestError(f"MCP server host {host!r} is not allowed here; the operator lists the hosts a "
                                  "request may name (--mcp-allowed-hosts)", param=f"{param}.server_url")
    headers = dict(tool.headers or {})
    if tool.authorization:
        headers["Authorization"] = f"Bearer {tool.authorization}"
    protocol = "sse" if urlsplit(url).path.rstrip("/").endswith("/sse") else "streamable"
    return ServerSpec(name=tool.server_label, protocol=protocol, url=url, headers=tuple(sorted(headers.items())))


def _allowed(tool: McpToolSpec) -> frozenset[str] | None:
    names = tool.allowed_tools
    if names is None:
        return None
    if isinstance(names, _ToolNames):
        return None if names.tool_names is None else frozenset(names.tool_names)
    return frozenset(names)


def _server(raw: dict[str, Any], param: str, static: Mapping[str, ServerSpec],
            allowed_hosts: tuple[str, ...]) -> RequestServer:
    if "command" in raw or "args" in raw:
        raise InvalidRequestError("an `mcp` tool may not name a command to run; stdio servers come only from the "
                                  "gateway's config (--mcp-config-path)", param=f"{param}.command")
    try:
        tool = msgspec.convert(raw, McpToolSpec)
    except msgspec.ValidationError as err:
        raise InvalidRequestError(f"invalid mcp tool: {err}", param=param) from None
    if tool.server_url is None:
        spec = static.get(tool.server_label)
        if spec is None:
            known = ", ".join(sorted(static)) or "none are configured"
            raise InvalidRequestError(f"no MCP server is configured under server_label {tool.server_label[:64]!r} "
                                      f"(configured: {known}); give `server_url` for a server of your own",
                                      param=f"{param}.server_label")
        return RequestServer(tool.server_label, spec, True, _allowed(tool), tool, param)
    return RequestServer(tool.server_label, _url_spec(tool, param, allowed_hosts), False, _allowed(tool), tool, param)


def checked_mcp_tools(tools: list[dict[str, Any]] | None, static: Mapping[str, ServerSpec],
                      allowed_hosts: tuple[str, ...]) -> list[RequestServer]:
    """The request's `mcp` tools as servers (400 naming `tools[i]…` for anything refused)."""
    out: list[RequestServer] = []
    for i, raw in enumerate(tools or ()):
        if isinstance(raw, dict) and raw.get("type") == "mcp":
            server = _server(raw, f"tools[{i}]", static, allowed_hosts)
            if any(s.label == server.label for s in out):
                raise InvalidRequestError(f"two mcp tools share server_label {server.label[:64]!r}",
                                          param=f"tools[{i}].server_label")
            out.append(server)
    return out
