"""Llama 3.1 / 3.2 / 3.3 JSON tool calls.

    <|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": ...}

`<|python_tag|>` (a special token) opens the calls; text before it is content. The
calls are `{"name", "parameters" | "arguments"}` objects separated by `;` (or just
whitespace). Llama 3.1's template renders a call without the tag, so an output that
begins with `{` is read as calls too (if its first object is not a call, the output
is content). After the tag, anything that is not a JSON object (Llama's built-in
`brave_search.call(...)` form) is content without the tag.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._machine import State
from sglang_gw.parsers.tools.json_tools import JsonToolParser

__all__ = ["Llama3ToolParser"]

_TAG = "<|python_tag|>"
_TEXT = Markers((_TAG,))


class Llama3ToolParser(JsonToolParser):
    text_markers = _TEXT
    special_markers: ClassVar[tuple[str, ...]] = (_TAG,)

    def text_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        return self.text_until(self.text_markers) is not None and self.goto(self._after_tag)

    def _after_tag(self) -> bool:
        c = self.peek()
        if c is None:
            return False
        if c == "{":
            return self.run_object(self._separator)
        return self.goto(self._text)
