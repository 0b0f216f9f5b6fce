"""One tool call: arguments checked, the call cut at its timeout, the result in OpenAI's shape.

A result is either `output` (the tool's text, what the model reads) or `error`, an object of
one of the kinds the OpenAI SDK knows (`mcp_tool_execution_error` with the tool's content,
`mcp_protocol_error` with a JSON-RPC code). Either way the model is told what happened and
the loop goes on: a failing tool is an answer, not a failed response.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import mcp_types
from mcp.shared.exceptions import MCPError

from sglang_gw.errors import FailedDependencyError
from sglang_gw.mcp.session import McpSession, describe_error

__all__ = ["CallResult", "call_tool"]

# JSON-RPC codes for what the gateway itself decides (the SDK's own for a timeout).
INVALID_PARAMS = -32602
CONNECTION_ERROR = -32000


@dataclass(slots=True, frozen=True)
class CallResult:
    output: str | None
    error: dict[str, Any] | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None

    def for_model(self) -> str:
        """What the model reads as the tool's answer."""
        if self.error is None:
            return self.output or ""
        if self.error["type"] == "mcp_tool_execution_error":
            return "Error: " + _text(self.error["content"])
        return "Error: " + str(self.error.get("message", ""))


def _protocol_error(code: int, message: str) -> dict[str, Any]:
    return {"type": "mcp_protocol_error", "code": code, "message": message}


def _text(content: list[dict[str, Any]]) -> str:
    """Text blocks as they are; any other block (image, resource) as its JSON."""
    return "\n".join(block["text"] if block.get("type") == "text" else json.dumps(block, ensure_ascii=False)
                     for block in content)


def _result(result: mcp_types.CallToolResult) -> tuple[str | None, dict[str, Any] | None]:
    content = [block.model_dump(mode="json", exclude_none=True) for block in result.content]
    if result.is_error:
        return None, {"type": "mcp_tool_execution_error", "content": content}
    if not content and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False), None
    return _text(content), None


async def call_tool(session: McpSession, name: str, arguments: str, timeout: float) -> CallResult:
    """Call `name` with the model's `arguments` (a JSON object as text); never raises for
    what the tool or its server did."""
    t0 = time.perf_counter()
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as err:
        args = err
    if not isinstance(args, dict):
        bad = _protocol_error(INVALID_PARAMS, f"the arguments of {name} are not a JSON object")
        return CallResult(None, bad, time.perf_counter() - t0)
    output: str | None = None
    error: dict[str, Any] | None
    try:
        # The SDK's own read timeout ends the request; the outer one also bounds a dead connection.
        async with asyncio.timeout(timeout + 1):
            output, error = _result(await session.call(name, args, timeout))
    except TimeoutError:
        error = _protocol_error(mcp_types.REQUEST_TIMEOUT, f"{name} timed out after {timeout:g}s")
    except MCPError as err:
        message = f"{name} timed out after {timeout:g}s" if err.error.code == mcp_types.REQUEST_TIMEOUT \
            else err.error.message
        error = _protocol_error(err.error.code, message)
    except FailedDependencyError as err:
        error = _protocol_error(CONNECTION_ERROR, err.message)
    except Exception as err:  # noqa: BLE001 - the connection broke mid-call: the model is told
        error = _protocol_error(CONNECTION_ERROR, f"MCP server {session.where}: {describe_error(err)}")
    return CallResult(output, error, time.perf_counter() - t0)
