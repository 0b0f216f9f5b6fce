"""The canonical cases every tool-call parser must handle, family-neutral.

Each family's test renders a case in its own wire format (`render(case) -> str`) and checks
the parse, through every split of `harness.chunkings`, against `case.expected_*`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sglang_gw.parsers.types import ToolSpec

__all__ = ["CASES", "TOOLS", "Call", "ToolCase"]

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("get_weather", {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}),
    ToolSpec("search", {"type": "object", "properties": {
        "query": {"type": "string"}, "limit": {"type": "integer"}, "exact": {"type": "boolean"},
        "filters": {"type": "object"}, "tags": {"type": "array", "items": {"type": "string"}},
        "score": {"type": "number"}}}),
    ToolSpec("noop", {"type": "object", "properties": {}}),
)


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolCase:
    id: str
    calls: tuple[Call, ...]
    before: str = ""   # content before the calls (families that allow it)
    after: str = ""    # content after the calls (families that allow it)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


CASES: tuple[ToolCase, ...] = (
    ToolCase("no_call", (), before="The weather is nice today. {not a call} [1, 2]"),
    ToolCase("one_call", (Call("get_weather", {"city": "Paris", "unit": "c"}),)),
    ToolCase("text_before", (Call("get_weather", {"city": "Oslo"}),), before="Let me check. "),
    ToolCase("parallel", (Call("get_weather", {"city": "Paris"}), Call("get_weather", {"city": "東京"}),
                          Call("search", {"query": "umbrella", "limit": 3}))),
    ToolCase("empty_args", (Call("noop", {}),)),
    ToolCase("typed_nested", (Call("search", {"query": "q", "limit": 10, "exact": True, "score": 0.5,
                                              "filters": {"lang": ["en", "fr"], "since": {"year": 2024}},
                                              "tags": ["a", "b"]}),)),
    ToolCase("unicode", (Call("get_weather", {"city": "Zürich 🌧️ naïve 北京"}),)),
    ToolCase("escapes", (Call("search", {"query": 'say "hi"\\n\ttab \\ back'}),)),
    ToolCase("markup_in_string", (Call("search", {"query": "<tool_call>{\"x\": 1}</tool_call> [TOOL_CALLS] </think>"}),)),  # noqa: E501 - a wire-format sample, kept whole
    # An undeclared tool: not a call; the parser keeps its text as content (family-specific text).
    ToolCase("undeclared", (Call("launch_missiles", {"target": "moon"}),), notes="not a call"),
)
