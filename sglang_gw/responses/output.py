"""Output items from parsed deltas, and the streaming events that build them.

`OutputBuilder` takes what the parse stage gives (content, reasoning, tool-call deltas) and
keeps the response's `output` list: a `reasoning` item with its text, a `message` item with
one `output_text` part, a `function_call` item per call. Each step returns the events a
stream sends for it, so a streamed answer and a whole one are built by the same code and
cannot differ. A reasoning or message item is done when another kind of output starts;
calls stay open until the end (a parser may still close a call's arguments at `finish`).
"""

from __future__ import annotations

from typing import Any

from sglang_gw.api.items import new_item_id
from sglang_gw.parsers.types import ToolCallDelta

__all__ = ["Event", "OutputBuilder"]

Event = dict[str, Any]


class OutputBuilder:
    def __init__(self, *, max_tool_calls: int | None = None, logprobs: bool = False) -> None:
        self.output: list[dict[str, Any]] = []
        self._max_calls = max_tool_calls
        self._logprobs = logprobs
        self._open: dict[str, Any] | None = None  # the reasoning or message item being written
        self._open_index = -1
        self._calls: dict[int, tuple[int, dict[str, Any]]] = {}  # call index → (output index, item)
        self._events: list[Event] = []
        # A whole (non-streamed) answer reads only `output`: its steps build no events.
        self.emits = True
        # Logprobs of tokens that made no text yet (part of a character, an end token): they
        # go with the message's next text, or with its end.
        self._pending: list[dict[str, Any]] = []

    @property
    def has_calls(self) -> bool:
        return bool(self._calls)

    def _emit(self, kind: str, **fields: Any) -> None:
        if self.emits:
            self._events.append({"type": kind, **fields})

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # ---- steps --------------------------------------------------------------------------

    def feed(self, *, reasoning: str = "", content: str = "", calls: list[ToolCallDelta] | tuple[()] = (),
             logprobs: list[dict[str, Any]] | None = None) -> list[Event]:
        if self._logprobs and logprobs:
            self._pending.extend(logprobs)
        if reasoning or calls:
            self._pending.clear()  # tokens of reasoning or of calls: not the message's text
        if reasoning:
            self._reasoning(reasoning)
        if content:
            self._content(content)
        for call in calls:
            self._call(call)
        return self._take()

    def finish(self, status: str) -> list[Event]:
        """Every open item done, with `status` (`completed` or `incomplete`)."""
        self._close_open(status)
        for index, item in sorted(self._calls.values(), key=lambda pair: pair[0]):
            if item["status"] == "in_progress":
                item["status"] = status
                self._emit("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                           name=item["name"], arguments=item["arguments"])
                self._emit("response.output_item.done", output_index=index, item=item)
        return self._take()

    # ---- items --------------------------------------------------------------------------

    def _start(self, item: dict[str, Any]) -> int:
        self.output.append(item)
        index = len(self.output) - 1
        if self.emits:
            shown = {**item, "content": []} if "content" in item else dict(item)
            if item["type"] == "function_call":
                shown["arguments"] = ""
            self._emit("response.output_item.added", output_index=index, item=shown)
        return index

    def _open_text(self, kind: str) -> dict[str, Any]:
        if self._open is not None and self._open["type"] == kind:
            return self._open
        self._close_open("completed")
        if kind == "reasoning":
            item: dict[str, Any] = {"id": new_item_id("reasoning"), "type": "reasoning", "summary": [],
                                    "content": [{"type": "reasoning_text", "text": ""}], "status": "in_progress"}
            part: dict[str, Any] = {"type": "reasoning_text", "text": ""}
        else:
            item = {"id": new_item_id("message"), "type": "message", "role": "assistant", "status": "in_progress",
                    "content": [{"type": "output_text", "text": "", "annotations": []}]}
            part = {"type": "output_text", "text": "", "annotations": []}
            if self._logprobs:
                item["content"][0]["logprobs"] = []
                part["logprobs"] = []
        index = self._open_index = self._start(item)
        if self.emits:
            self._emit("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                       part=part)
        self._open = item
        return item

    def _reasoning(self, text: str) -> None:
        item = self._open_text("reasoning")
        item["content"][0]["text"] += text
        self._emit("response.reasoning_text.delta", item_id=item["id"], output_index=self._open_index,
                   content_index=0, delta=text)

    def _content(self, text: str) -> None:
        item = self._open_text("message")
        part = item["content"][0]
        part["text"] += text
        logprobs: list[dict[str, Any]] = []
        if self._logprobs:
            logprobs, self._pending = self._pending, []
            part["logprobs"].extend(logprobs)
        if self.emits:
            self._emit("response.output_text.delta", item_id=item["id"], output_index=self._open_index,
                       content_index=0, delta=text, logprobs=logprobs)

    def _close_open(self, status: str) -> None:
        if self._open is not None and self._open["type"] == "message" and self._pending:
            self._content("")  # the end token's logprob: the stream's deltas still add up to the part
        item, self._open = self._open, None
        if item is None:
            return
        item["status"] = status
        if self.emits:
            self._emit_done(item)

    def _emit_done(self, item: dict[str, Any]) -> None:
        """The events that close the open reasoning or message item."""
        index = self._open_index
        part = item["content"][0]
        if item["type"] == "reasoning":
            self._emit("response.reasoning_text.done", item_id=item["id"], output_index=index, content_index=0,
                       text=part["text"])
        else:
            self._emit("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                       text=part["text"], logprobs=part.get("logprobs", []))
        self._emit("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                   part=part)
        self._emit("response.output_item.done", output_index=index, item=item)

    def _call(self, delta: ToolCallDelta) -> None:
        if delta.index not in self._calls:
            if self._max_calls is not None and len(self._calls) >= self._max_calls:
                return  # past max_tool_calls: dropped whole, streamed or not
            self._close_open("completed")
            item = {"id": new_item_id("function_call"), "type": "function_call",
                    "call_id": delta.id or new_item_id("call"), "name": delta.name or "", "arguments": "",
                    "status": "in_progress"}
            self._calls[delta.index] = (self._start(item), item)
        index, item = self._calls[delta.index]
        if delta.arguments:
            item["arguments"] += delta.arguments
            self._emit("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                       delta=delta.arguments)
