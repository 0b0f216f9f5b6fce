"""POST /v1/responses with `mcp` tools: the servers checked and connected, then the tool loop.

Everything that can refuse the request does so before the answer starts: a refused server
(400, nothing sent), an unreachable one (424), a tool name clash (400), an answer to an
approval request the previous response does not hold (400), and the first generation's
start. Each generation of the loop runs like any other (held by the request's ledger, so a
hang-up aborts it; a background response's are closed when its run ends);
responses/mcp_loop.py does the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sglang_gw.errors import ContextLengthExceededError
from sglang_gw.mcp.servers import checked_mcp_tools
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.merge import merged_deltas, usage_of
from sglang_gw.pipeline.parse import ParserPlan
from sglang_gw.pipeline.prepare import prepare_chat
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest
from sglang_gw.responses.items import to_messages
from sglang_gw.responses.mcp_loop import McpLoop, approved_calls, mcp_chat_request, open_mcp_tools, pending_approvals
from sglang_gw.responses.mcp_output import McpOutputBuilder
from sglang_gw.responses.turn import Turn
from sglang_gw.responses.writer import ResponseWriter
from sglang_gw.server.handling import (
    framed,
    gateway_of,
    generations_for,
    json_response,
    request_id_of,
    start_deltas,
    unless_disconnected,
)
from sglang_gw.server.sse import sse_response

__all__ = ["has_mcp_tools", "mcp_response"]

# Starts a background response: (request, writer, work, close) → the `queued` answer.
Background = Callable[[Request, ResponseWriter[Any], Callable[[], Awaitable[object]], Callable[[], None]],
                      Awaitable[Response]]


def has_mcp_tools(tools: list[dict[str, Any]] | None) -> bool:
    return any(isinstance(t, dict) and t.get("type") == "mcp" for t in tools or ())


async def mcp_response(request: Request, turn: Turn, model: ServedModel, lora: str | None,
                       background: Background) -> Response:
    """The loop's answer, every generation on `lora` if the model named an adapter;
    `background` starts a background response (routes_responses.py's)."""
    gw = gateway_of(request)
    settings, req = gw.config.mcp, turn.req
    servers = checked_mcp_tools(req.tools, gw.mcp.static, settings.allowed_hosts)
    tools = await open_mcp_tools(servers, gw.mcp, {t.name for t in turn.tools})
    approvals = await pending_approvals(turn, gw.history)
    builder = McpOutputBuilder(tools.routes(), max_tool_calls=req.max_tool_calls, logprobs=req.wants_logprobs)
    opening = [event for label, listed in tools.listed.items() for event in builder.listed(label, listed)]
    opening += await approved_calls(builder, tools, approvals, settings)
    turn.messages += to_messages(None, [], builder.output)  # the approved calls and their results
    generations: list[Generation] = []

    async def generate(first: bool) -> tuple[PreparedRequest, ParserPlan, AsyncIterator[ChoiceDelta]]:
        prepared, plan = await _prepared(request, turn, model, tools, first)
        if req.background:  # not tied to this request (no ledger): closed when the run ends
            started = [Generation(prepared, model, gw.pool, gw.dispatch, routing_key=gw.routing_key(request.headers),
                                  hooks=gw.hooks, lora=lora, trace_id=request_id_of(request))]
        else:
            started = generations_for(request, model, [prepared], lora=lora)
        generations.extend(started)
        return prepared, plan, (await start_deltas(started) if req.stream else merged_deltas(started))

    prepared, plan, first = await generate(True)
    save = None
    if req.store:
        async def save(body: dict[str, Any]) -> None:
            await gw.history.save_response(turn.stored(body))

    loop = McpLoop(turn, prepared, model, plan, tools=tools, builder=builder, settings=settings, generate=generate,
                   opening=opening, save=save)
    usage = usage_of(generations)
    if req.background:
        def close() -> None:
            for gen in generations:
                gen.close(None)

        return await background(request, loop, partial(loop.complete_loop, first, usage), close)
    if req.stream:
        return await framed(request, "responses", model.name, sse_response(
            loop.stream_loop(first, usage), source=first, done=False,
            keepalive=gw.config.connections.sse_keepalive_secs))
    body = await unless_disconnected(request, loop.complete_loop(first, usage))
    if isinstance(body, Response):
        return body  # the client hung up
    return await framed(request, "responses", model.name, json_response(body), body)


async def _prepared(request: Request, turn: Turn, model: ServedModel, tools: Any,
                    first: bool) -> tuple[PreparedRequest, ParserPlan]:
    """The prepare stage on the turn's context with the MCP tools; with `truncation: "auto"`,
    the oldest exchanges go until it fits (as for a response without MCP tools)."""
    gw = gateway_of(request)
    while True:
        try:
            prepared, plan = await gw.hooks.run("prepare", prepare_chat, mcp_chat_request(turn, tools, first=first),
                                                model)
            return prepared, plan
        except ContextLengthExceededError:
            if turn.req.truncation != "auto" or not turn.drop_oldest_turn():
                raise
