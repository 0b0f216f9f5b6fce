"""Output items and events of the MCP loop, on top of the ordinary `OutputBuilder`.

A call whose name is one of the request's MCP tools becomes an `mcp_call` item (streamed as
`response.mcp_call.in_progress`, `response.mcp_call_arguments.delta`/`.done`, then
`response.mcp_call.completed`/`.failed` once it has run), or, when its server wants
approval, an `mcp_approval_request` item the client answers in its next request. Any other
call stays a `function_call` for the client. `mcp_list_tools` items say what each server
offered. As in output.py, one code path builds the streamed and the whole answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sglang_gw.api.items import new_item_id
from sglang_gw.parsers.types import ToolCallDelta
from sglang_gw.responses.output import Event, OutputBuilder

if TYPE_CHECKING:
    from sglang_gw.mcp import CallResult, ToolInfo

__all__ = ["McpOutputBuilder", "ToolRoute"]


@dataclass(slots=True, frozen=True)
class ToolRoute:
    """Where the model's call of one tool name goes."""

    server_label: str
    needs_approval: bool


class McpOutputBuilder(OutputBuilder):
    def __init__(self, routes: Mapping[str, ToolRoute], *, max_tool_calls: int | None = None,
                 logprobs: bool = False) -> None:
        super().__init__(max_tool_calls=max_tool_calls, logprobs=logprobs)
        self.routes = routes
        self._mcp: dict[int, tuple[int, dict[str, Any]]] = {}  # this generation's MCP calls by call index
        self._dropped: set[int] = set()
        self._mcp_total = 0  # MCP calls of every generation, for max_tool_calls

    # ---- one generation of the loop -----------------------------------------------------

    def next_generation(self) -> None:
        """The model generates again: call indexes start over."""
        self._mcp.clear()
        self._dropped.clear()

    def pending_calls(self) -> list[tuple[int, dict[str, Any]]]:
        """This generation's `mcp_call` items waiting to run, as (output index, item)."""
        return [(i, item) for i, item in sorted(self._mcp.values(), key=lambda p: p[0])
                if item["type"] == "mcp_call" and item["status"] == "calling"]

    @property
    def asked_approval(self) -> bool:
        return any(item["type"] == "mcp_approval_request" for _, item in self._mcp.values())

    # ---- calls ----------------------------------------------------------------------------

    def _call(self, delta: ToolCallDelta) -> None:
        index = delta.index
        if index in self._dropped:
            return
        if index in self._mcp:
            self._more_arguments(index, delta.arguments)
            return
        if index in self._calls:
            super()._call(delta)
            return
        if self._max_calls is not None and len(self._calls) + self._mcp_total >= self._max_calls:
            self._dropped.add(index)  # past max_tool_calls: dropped whole, streamed or not
            return
        route = self.routes.get(delta.name or "")
        if route is None:
            super()._call(delta)
            return
        self._mcp_total += 1
        self._close_open("completed")
        kind = "mcp_approval_request" if route.needs_approval else "mcp_call"
        item: dict[str, Any] = {"id": new_item_id(kind), "type": kind, "server_label": route.server_label,
                                "name": delta.name, "arguments": ""}
        if kind == "mcp_call":
            item.update(output=None, error=None, status="in_progress")
        out = self._begin(item)
        self._mcp[index] = (out, item)
        if kind == "mcp_call":
            self._emit("response.mcp_call.in_progress", item_id=item["id"], output_index=out)
        self._more_arguments(index, delta.arguments)

    def _begin(self, item: dict[str, Any]) -> int:
        self.output.append(item)
        out = len(self.output) - 1
        self._emit("response.output_item.added", output_index=out, item=dict(item))
        return out

    def _more_arguments(self, index: int, text: str) -> None:
        out, item = self._mcp[index]
        if not text:
            return
        item["arguments"] += text
        if item["type"] == "mcp_call":
            self._emit("response.mcp_call_arguments.delta", item_id=item["id"], output_index=out, delta=text)

    def finish(self, status: str) -> list[Event]:
        events = super().finish(status)
        for out, item in sorted(self._mcp.values(), key=lambda p: p[0]):
            if item["type"] == "mcp_approval_request":
                self._emit("response.output_item.done", output_index=out, item=item)
            elif item["status"] == "in_progress":
                self._emit("response.mcp_call_arguments.done", item_id=item["id"], output_index=out,
                           arguments=item["arguments"])
                if status == "completed":
                    item["status"] = "calling"  # to be run by the loop
                else:  # cut off: its arguments may be partial, so it is not run
                    item["status"] = status
                    self._emit("response.output_item.done", output_index=out, item=item)
        return events + self._take()

    def called(self, out: int, item: dict[str, Any], result: CallResult) -> list[Event]:
        """A call has run: its output or error, and its closing events."""
        item["output"], item["error"] = result.output, result.error
        item["status"] = "completed" if result.ok else "failed"
        kind = "response.mcp_call.completed" if result.ok else "response.mcp_call.failed"
        self._emit(kind, item_id=item["id"], output_index=out)
        self._emit("response.output_item.done", output_index=out, item=item)
        return self._take()

    def approved_call(self, request: Mapping[str, Any]) -> tuple[int, dict[str, Any], list[Event]]:
        """An `mcp_call` for an approved `mcp_approval_request` of the previous response."""
        self._close_open("completed")
        item: dict[str, Any] = {"id": new_item_id("mcp_call"), "type": "mcp_call",
                                "server_label": request["server_label"], "name": request["name"],
                                "arguments": request["arguments"], "output": None, "error": None,
                                "status": "calling", "approval_request_id": request["id"]}
        out = self._begin({**item, "arguments": "", "status": "in_progress"})
        self.output[out] = item
        self._emit("response.mcp_call.in_progress", item_id=item["id"], output_index=out)
        if item["arguments"]:
            self._emit("response.mcp_call_arguments.delta", item_id=item["id"], output_index=out,
                       delta=item["arguments"])
        self._emit("response.mcp_call_arguments.done", item_id=item["id"], output_index=out,
                   arguments=item["arguments"])
        return out, item, self._take()

    # ---- tool lists ---------------------------------------------------------------------

    def listed(self, server_label: str, tools: Iterable[ToolInfo]) -> list[Event]:
        """An `mcp_list_tools` item: the tools `server_label` offered this response."""
        shown = [{k: v for k, v in (("name", t.name), ("description", t.description),
                                    ("input_schema", t.input_schema), ("annotations", t.annotations))
                  if v is not None or k == "input_schema"} for t in tools]
        item: dict[str, Any] = {"id": new_item_id("mcp_list_tools"), "type": "mcp_list_tools",
                                "server_label": server_label, "tools": shown, "error": None}
        out = self._begin({**item, "tools": []})
        self.output[out] = item
        self._emit("response.mcp_list_tools.in_progress", item_id=item["id"], output_index=out)
        self._emit("response.mcp_list_tools.completed", item_id=item["id"], output_index=out)
        self._emit("response.output_item.done", output_index=out, item=item)
        return self._take()
