"""Value objects the parsers hand to the pipeline (frozen; nobody reads parser internals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReasoningDelta", "ToolCallDelta", "ToolDelta", "ToolSpec"]


@dataclass(slots=True, frozen=True)
class ToolSpec:
    """A tool the request declared: its name and JSON-schema parameters."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_openai(tools: list[dict[str, Any]] | None) -> tuple[ToolSpec, ...]:
        out = []
        for tool in tools or ():
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                params = fn.get("parameters")
                out.append(ToolSpec(fn["name"], params if isinstance(params, dict) else {}))
        return tuple(out)


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    reasoning: str = ""
    content: str = ""


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """One step of one call. `id` and `name` come once, on the call's first delta; then
    `arguments` fragments whose concatenation is the call's final arguments JSON."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""

    @staticmethod
    def from_openai(raw: list[Any] | None) -> list[ToolCallDelta]:
        """An OpenAI message's or chunk's `tool_calls` (an upstream worker's answer) as deltas."""
        out = []
        for i, call in enumerate(raw or ()):
            fn = call.get("function") or {}
            out.append(ToolCallDelta(index=call.get("index", i), id=call.get("id"), name=fn.get("name"),
                                     arguments=fn.get("arguments") or ""))
        return out

    def to_openai(self) -> dict[str, Any]:
        fn: dict[str, Any] = {"arguments": self.arguments}
        if self.name is not None:
            fn["name"] = self.name
        out: dict[str, Any] = {"index": self.index, "function": fn}
        if self.id is not None:
            out["id"] = self.id
            out["type"] = "function"
        return out


@dataclass(slots=True, frozen=True)
class ToolDelta:
    content: str = ""
    calls: tuple[ToolCallDelta, ...] = ()
