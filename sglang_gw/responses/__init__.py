"""The Responses API on the chat pipeline (docs/responses.md).

    request.py     the request body (msgspec), tools and tool_choice
    items.py       input items checked and given ids; a context as chat messages
    turn.py        one turn: stored context resolved, the chat request it runs as
    output.py      parsed deltas → output items and the stream's events
    writer.py      what every answer shares: the object, the event stream, the final save
    responder.py   the pipeline Responder (gRPC workers): choice deltas → the answer
    upstream.py    OpenAI-compatible HTTP workers: the turn as a chat request, its chat answer → the answer
    background.py  background responses, bounded, cancellable
    mcp_loop.py    the MCP tool loop: generate, run the MCP calls, generate again (docs/mcp.md)
    mcp_output.py  its items and events: mcp_list_tools, mcp_call, mcp_approval_request
"""

from __future__ import annotations

from sglang_gw.responses.background import BackgroundRuns
from sglang_gw.responses.request import ResponsesRequest
from sglang_gw.responses.responder import ResponsesResponder
from sglang_gw.responses.turn import Turn, open_turn
from sglang_gw.responses.upstream import UpstreamResponder
from sglang_gw.responses.writer import ResponseWriter

__all__ = ["BackgroundRuns", "ResponseWriter", "ResponsesRequest", "ResponsesResponder", "Turn", "UpstreamResponder",
           "open_turn"]
