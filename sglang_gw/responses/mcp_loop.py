"""The MCP tool loop of /v1/responses: generate, run the MCP calls, generate again.

    open_mcp_tools   the request's servers connected (424 if one is down) and listed; the
                     tools it may use, under their MCP names (a name two offer is a 400)
    McpLoop          a ResponsesResponder whose steps are the deltas of every generation of
                     the loop, with the events of the calls run between them

Each generation is an ordinary turn of the chat pipeline (the route's `generate`), with the
MCP tools offered as functions beside the request's own. After a generation the loop runs
the MCP calls the model made (at once, each cut at --mcp-tool-timeout-secs), adds them and
their results to the context, and generates again; it stops at an answer without MCP calls,
at a call of a client `function` tool or an approval request (returned to the client), when
a generation is cut off, or after --mcp-max-iterations generations (`incomplete`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import msgspec

from sglang_gw import mcp as mcp_client  # call_tool through the package: the SDK loads with the first call
from sglang_gw import metrics, tracing
from sglang_gw.api.protocol import ChatCompletionRequest
from sglang_gw.errors import InvalidRequestError
from sglang_gw.history.base import HistoryStore
from sglang_gw.mcp.servers import RequestServer
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.parse import ParserPlan
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage
from sglang_gw.responses.items import Item, to_messages
from sglang_gw.responses.mcp_output import McpOutputBuilder, ToolRoute
from sglang_gw.responses.output import Event
from sglang_gw.responses.responder import ResponsesResponder
from sglang_gw.responses.turn import Turn
from sglang_gw.responses.writer import Save

if TYPE_CHECKING:
    from sglang_gw.mcp import CallResult, McpPool, McpSession, McpSettings, ToolInfo

__all__ = ["Generate", "McpLoop", "McpTools", "approved_calls", "mcp_chat_request", "open_mcp_tools",
           "pending_approvals"]

# One generation of the loop (is it the first?) on the turn's context as it is now: its
# prepared prompt, its parsers, its deltas (mcp_chat_request says what it asks).
Generate = Callable[[bool], Awaitable[tuple[PreparedRequest, ParserPlan, AsyncIterator[ChoiceDelta]]]]
Step = ChoiceDelta | list[Event]


@dataclass(slots=True)
class McpTools:
    """The servers of one request, connected, and the tools the model is offered."""

    servers: list[RequestServer]
    sessions: dict[str, McpSession] = field(default_factory=dict)  # by server_label
    listed: dict[str, list[ToolInfo]] = field(default_factory=dict)  # by server_label, after allowed_tools
    owner: dict[str, RequestServer] = field(default_factory=dict)  # tool name → its server

    def routes(self) -> dict[str, ToolRoute]:
        return {name: ToolRoute(s.label, s.needs_approval(name)) for name, s in self.owner.items()}

    def functions(self) -> list[dict[str, Any]]:
        """The tools as chat-completions functions."""
        out = []
        for tools in self.listed.values():
            for tool in tools:
                fn: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema or {"type": "object"}}
                if tool.description:
                    fn["description"] = tool.description
                out.append({"type": "function", "function": fn})
        return out


async def open_mcp_tools(servers: list[RequestServer], pool: McpPool, function_names: set[str]) -> McpTools:
    found = McpTools(servers)
    sessions = await asyncio.gather(*(pool.session(s.spec, static=s.static) for s in servers))
    for server, session in zip(servers, sessions, strict=True):
        tools = await session.tools()
        names = {t.name for t in tools}
        if server.allowed is not None and (unknown := sorted(server.allowed - names)):
            raise InvalidRequestError(f"allowed_tools names {', '.join(unknown)[:200]}, which MCP server "
                                      f"{server.label!r} does not offer", param=f"{server.param}.allowed_tools")
        offered = [t for t in tools if server.allowed is None or t.name in server.allowed]
        for tool in offered:
            other = found.owner.get(tool.name)
            if other is not None or tool.name in function_names:
                by = f"MCP server {other.label!r}" if other is not None else "a function tool"
                raise InvalidRequestError(f"tool name {tool.name!r} is offered by both MCP server {server.label!r} "
                                          f"and {by}; narrow one with allowed_tools", param=server.param)
            found.owner[tool.name] = server
        found.sessions[server.label] = session
        found.listed[server.label] = offered
    return found


async def pending_approvals(turn: Turn, store: HistoryStore) -> list[tuple[Item, bool]]:
    """The approval requests of the stored context (the previous response, or the
    conversation) that this request answers, each with its answer (400 for an answer to a
    request the context does not hold, or holds already answered)."""
    answers = [(i, it) for i, it in enumerate(turn.input_items) if it.get("type") == "mcp_approval_response"]
    if not answers:
        return []
    history: list[Item] = []
    if turn.req.previous_response_id is not None:
        history = await store.response_chain(turn.owner, turn.req.previous_response_id) or []
    elif turn.req.conversation_id is not None:
        history = await store.conversation_items(turn.owner, turn.req.conversation_id) or []
    asked = {it["id"]: it for it in history if it.get("type") == "mcp_approval_request"}
    done = {it.get("approval_request_id") for it in history if it.get("type") == "mcp_call"}
    out = []
    for i, answer in answers:
        request = asked.get(answer["approval_request_id"])
        if request is None or request["id"] in done:
            raise InvalidRequestError(f"no open mcp_approval_request with id {answer['approval_request_id'][:80]!r} "
                                      "in the stored context", param=f"input[{i}].approval_request_id")
        out.append((request, bool(answer["approve"])))
    return out


def mcp_chat_request(turn: Turn, tools: McpTools, *, first: bool) -> ChatCompletionRequest:
    """The turn as a chat request with the MCP tools offered beside the function tools. A
    forced tool_choice (`required`, a function, an MCP tool) holds for the first generation
    only: after it the model must be able to answer."""
    chat = turn.chat_request()
    offered = [*(chat.tools or ()), *tools.functions()]
    choice = chat.tool_choice
    if isinstance(turn.req.tool_choice, dict) and turn.req.tool_choice.get("type") == "mcp":
        choice = mcp_tool_choice(turn.req.tool_choice, tools)
    if not first and choice not in (None, "none"):
        choice = "auto"
    return msgspec.structs.replace(chat, tools=offered or None, tool_choice=choice)


def mcp_tool_choice(choice: dict[str, Any], tools: McpTools) -> str | dict[str, Any]:
    """`{"type": "mcp", "server_label", "name"}` as a chat tool_choice: that tool, or with no
    `name`, any tool (`required`: the request's MCP servers are all the model is offered
    then, besides its functions)."""
    label, name = choice.get("server_label"), choice.get("name")
    if label not in tools.sessions:
        raise InvalidRequestError(f"`tool_choice` names server_label {str(label)[:64]!r}, which is not an mcp tool "
                                  "of this request", param="tool_choice.server_label")
    if name is None:
        return "required"
    server = tools.owner.get(name) if isinstance(name, str) else None
    if server is None or server.label != label:
        raise InvalidRequestError(f"`tool_choice` names {str(name)[:64]!r}, which MCP server {label!r} does not offer "
                                  "here", param="tool_choice.name")
    return {"type": "function", "function": {"name": name}}


class McpLoop(ResponsesResponder):
    def __init__(self, turn: Turn, prepared: PreparedRequest, model: ServedModel, plan: ParserPlan, *,
                 tools: McpTools, builder: McpOutputBuilder, settings: McpSettings, generate: Generate,
                 opening: list[Event], save: Save | None = None) -> None:
        super().__init__(turn, prepared, model, plan, save=save)
        self.builder: McpOutputBuilder = builder
        self.tools, self.settings, self.generate = tools, settings, generate
        self._opening = opening  # the tool lists and approved calls, before the first generation
        self._reasoning_before = 0  # reasoning tokens of the finished generations
        self._generation_start = len(builder.output)  # the items of the generation running now
        self.iterations = 0

    def _step(self, step: Step) -> list[Event]:  # type: ignore[override]
        return step if isinstance(step, list) else super()._step(step)

    def _usage(self) -> Usage:
        usage = super()._usage()
        if self._reasoning_tokens is not None or self._reasoning_before:
            usage.reasoning_tokens = self._reasoning_before + (self._reasoning_tokens or 0)
        return usage

    def _end(self) -> None:
        super()._end()
        metrics.record_mcp_iterations(self.iterations)

    def opening(self) -> bytes:
        # The tool lists (and approved calls) are already items, but the stream adds them
        # itself next: the opening events show the response before any output, as always.
        body = {**self.body(), "output": []}
        return self.sse([{"type": "response.created", "response": body},
                         {"type": "response.in_progress", "response": body}])

    def body(self, *, status: str | None = None, error: dict[str, Any] | None = None,
             usage: Usage | None = None) -> dict[str, Any]:
        out = super().body(status=status, error=error, usage=usage)
        out["tools"] = out["tools"] + [_shown_tool(s) for s in self.tools.servers]
        return out

    async def steps(self, first: AsyncIterator[ChoiceDelta]) -> AsyncIterator[Step]:
        yield self._opening
        deltas = first
        while True:
            self.iterations += 1
            async for delta in deltas:
                yield delta
            calls = self.builder.pending_calls()
            if calls:
                yield await self._run(calls)
            if self.status != "completed" or not calls or self.builder.has_calls or self.builder.asked_approval:
                return
            if self.iterations >= self.settings.max_iterations:
                self.status, self.incomplete = "incomplete", {"reason": "max_tool_calls"}
                return
            deltas = await self._next_generation()

    async def _run(self, calls: list[tuple[int, dict[str, Any]]]) -> list[Event]:
        results = await asyncio.gather(*(run_call(self.tools, item, self.settings) for _, item in calls))
        events: list[Event] = []
        for (out, item), result in zip(calls, results, strict=True):
            events += self.builder.called(out, item, result)
        return events

    async def _next_generation(self) -> AsyncIterator[ChoiceDelta]:
        self.turn.messages += to_messages(None, [], self.builder.output[self._generation_start:])
        self._generation_start = len(self.builder.output)
        prepared, plan, deltas = await self.generate(False)
        self._reasoning_before += self._reasoning_tokens or 0
        self._reasoning_tokens = None
        self.prepared, self.processor, self._ids = prepared, plan.processor(), []
        self.builder.next_generation()
        return deltas

    async def stream_loop(self, first: AsyncIterator[ChoiceDelta],
                          usage_of: Callable[[], Usage]) -> AsyncIterator[bytes]:
        self._usage_of = usage_of
        async for frame in self.events(cast(AsyncIterator[ChoiceDelta], self.steps(first))):
            yield frame

    async def complete_loop(self, first: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        self._usage_of = usage_of
        return await self.whole(cast(AsyncIterator[ChoiceDelta], self.steps(first)))


async def run_call(tools: McpTools, item: dict[str, Any], settings: McpSettings) -> CallResult:
    server = tools.owner.get(item["name"])
    label = item["server_label"]
    session = tools.sessions[label]
    started = time.time_ns() if tracing.ENABLED else 0
    result = await mcp_client.call_tool(session, item["name"], item["arguments"], settings.tool_timeout_secs)
    if tracing.ENABLED and (trace := tracing.current()) is not None:
        trace.record("mcp.call_tool", started, time.time_ns(), {"mcp_server": label, "mcp_tool": item["name"]},
                     None if result.ok else "the tool call failed")
    static = server.static if server is not None else False
    metrics.record_mcp_call(label if static else "request", item["name"] if static else "other", result.ok,
                            result.seconds)
    return result


async def approved_calls(builder: McpOutputBuilder, tools: McpTools, approvals: list[tuple[Item, bool]],
                         settings: McpSettings) -> list[Event]:
    """Run the calls the client approved (before the first generation); a denied one is
    not run, and leaves no item."""
    events: list[Event] = []
    for request, approve in approvals:
        server = tools.owner.get(request["name"])
        if server is None or server.label != request["server_label"]:
            raise InvalidRequestError(f"the approved call of {request['name']!r} on MCP server "
                                      f"{request['server_label']!r} is not among this request's tools", param="tools")
        if not approve:
            continue
        out, item, started = builder.approved_call(request)
        events += started + builder.called(out, item, await run_call(tools, item, settings))
    return events


def _shown_tool(server: RequestServer) -> dict[str, Any]:
    """The `mcp` tool as the response echoes it: never its headers or authorization."""
    tool = server.approval
    return {"type": "mcp", "server_label": server.label, "server_url": tool.server_url,
            "server_description": tool.server_description,
            "allowed_tools": sorted(server.allowed) if server.allowed is not None else None,
            "require_approval": msgspec.to_builtins(tool.require_approval) if tool.require_approval is not None
            else "never", "headers": None}
