"""Content blocks from parsed deltas, and the stream events that build them.

`BlockBuilder` takes what the parse stage gives (reasoning, content, tool-call deltas) and
keeps the message's `content`: a `thinking` block, `text` blocks, a `tool_use` block per
call, in the order the model wrote them. Each step returns the events a stream sends for
it (`content_block_start`, `…_delta`, `content_block_stop`), so a streamed message and a
whole one are built by the same code and cannot differ. As Anthropic does, a block stops
when the next one starts.
"""

from __future__ import annotations

import json
from typing import Any

from sglang_gw.parsers.tools.base import random_call_id
from sglang_gw.parsers.types import ToolCallDelta

__all__ = ["BlockBuilder", "Event"]

Event = dict[str, Any]


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's `input`: its arguments JSON object. The parse stage's guard keeps our own
    arguments valid; an HTTP worker's may not be, and then the input is empty."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class BlockBuilder:
    def __init__(self, tool_id_prefix: str) -> None:
        self.content: list[dict[str, Any]] = []
        self._prefix = tool_id_prefix
        self._open = -1  # the index of the block being written; -1: none
        self._calls: dict[int, int] = {}  # call index → block index
        self._arguments: dict[int, str] = {}  # block index → the call's arguments so far
        self._events: list[Event] = []

    @property
    def has_calls(self) -> bool:
        return bool(self._calls)

    def feed(self, *, reasoning: str = "", content: str = "",
             calls: list[ToolCallDelta] | tuple[()] = ()) -> list[Event]:
        if reasoning:
            self._text("thinking", reasoning)
        if content:
            self._text("text", content)
        for call in calls:
            self._call(call)
        return self._take()

    def finish(self) -> list[Event]:
        """The open block stopped; every call's `input` parsed from its arguments."""
        self._stop()
        for index, arguments in self._arguments.items():
            self.content[index]["input"] = tool_input(arguments)
        return self._take()

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _start(self, block: dict[str, Any]) -> int:
        self._stop()
        self.content.append(block)
        self._open = len(self.content) - 1
        shown = {**block, "input": {}} if block["type"] == "tool_use" else dict(block)
        self._events.append({"type": "content_block_start", "index": self._open, "content_block": shown})
        return self._open

    def _stop(self) -> None:
        if self._open >= 0:
            self._events.append({"type": "content_block_stop", "index": self._open})
            self._open = -1

    def _text(self, kind: str, text: str) -> None:
        if self._open < 0 or self.content[self._open]["type"] != kind:
            self._start({"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking"
                        else {"type": "text", "text": ""})
        self.content[self._open][kind] += text
        delta = {"type": "thinking_delta", "thinking": text} if kind == "thinking" else \
            {"type": "text_delta", "text": text}
        self._events.append({"type": "content_block_delta", "index": self._open, "delta": delta})

    def _call(self, delta: ToolCallDelta) -> None:
        index = self._calls.get(delta.index)
        if index is None:
            block = {"type": "tool_use", "id": self._prefix + (delta.id or random_call_id()), "name": delta.name or "",
                     "input": {}}
            index = self._calls[delta.index] = self._start(block)
            self._arguments[index] = ""
        if delta.arguments:
            # Only the guard closing a call at the very end can write to a call after a
            # later block started; the delta still names its block, so nothing is lost.
            self._arguments[index] += delta.arguments
            self._events.append({"type": "content_block_delta", "index": index,
                                 "delta": {"type": "input_json_delta", "partial_json": delta.arguments}})
