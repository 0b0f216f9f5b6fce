"""Parse stage: one output processor per choice — reasoning first, then tool calls on the
content — and the one place that knows which parsers a request runs.

Parsers are per-choice state machines (`feed(text)`, `finish()`); this module composes them
and applies the request's options (`separate_reasoning`, `stream_reasoning`, `tool_choice`,
`parallel_tool_calls`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sglang_gw.errors import InvalidRequestError
from sglang_gw.parsers.tools._json_guard import ArgumentsGuard
from sglang_gw.parsers.tools.base import ToolParser
from sglang_gw.parsers.types import ReasoningDelta, ToolCallDelta, ToolDelta, ToolSpec

__all__ = ["OutputProcessor", "ParsedDelta", "ParserPlan", "PassthroughProcessor", "finish_reason", "plan_parsers"]


@dataclass(slots=True)
class ParsedDelta:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.content or self.reasoning or self.tool_calls)

    def extend(self, other: ParsedDelta) -> None:
        self.content += other.content
        self.reasoning += other.reasoning
        self.tool_calls.extend(other.tool_calls)


def finish_reason(ended_by: str, made_calls: bool) -> str:
    """The one place a choice's API `finish_reason` is decided. The decode stage says why
    generation ended (`ChoiceDelta.finish_reason`: "stop" for an end token or a stop
    string, "length", or the worker's own reason); a choice that ended normally after
    making tool calls finished with "tool_calls"."""
    return "tool_calls" if ended_by == "stop" and made_calls else ended_by


class PassthroughProcessor:
    """All text is content (no parser configured or asked for)."""

    __slots__ = ()
    has_tool_calls = False
    reasoning_chars = None

    def feed(self, text: str) -> ParsedDelta:
        return ParsedDelta(content=text)

    def finish(self) -> ParsedDelta:
        return ParsedDelta()


class _NamedToolParser(ToolParser):
    """tool_choice names one function: the constrained output is its arguments JSON."""

    def __init__(self, tools: Sequence[ToolSpec], name: str) -> None:
        super().__init__(tools)
        self.name = name

    def feed(self, text: str) -> ToolDelta:
        if not text:
            return ToolDelta()
        if not self.emitter.count:
            return ToolDelta(calls=(self.emitter.start(self.name, text.lstrip()),))
        return ToolDelta(calls=(self.emitter.arguments(text),))

    def finish(self) -> ToolDelta:
        if not self.emitter.count:  # no output at all: a call with empty arguments
            return ToolDelta(calls=(self.emitter.start(self.name, "{}"),))
        return ToolDelta()


class OutputProcessor:
    """Reasoning parser, then tool parser on what is content; per choice."""

    __slots__ = ("_reasoning", "_tools", "_stream_reasoning", "_single_call", "_held_reasoning", "_guard",
                 "_fed_chars", "_content_chars")

    def __init__(self, reasoning: Any | None, tools: ToolParser | None, *, stream_reasoning: bool = True,
                 single_call: bool = False) -> None:
        self._reasoning = reasoning
        self._tools = tools
        self._stream_reasoning = stream_reasoning
        self._single_call = single_call
        self._held_reasoning = ""
        self._guard = ArgumentsGuard()  # every call's arguments end as valid JSON
        self._fed_chars = 0  # text given to the reasoning parser, and what it passed on as content
        self._content_chars = 0

    @property
    def has_tool_calls(self) -> bool:
        return self._tools is not None and self._tools.has_calls

    @property
    def reasoning_chars(self) -> int | None:
        """Where the reasoning block ends in the choice's text (None: no reasoning parser ran).

        The reasoning parser passes on the content after the block verbatim, so everything
        before that content (reasoning, its markers, the whitespace after them) is the block.
        Settled once `finish` has run.
        """
        return self._fed_chars - self._content_chars if self._reasoning is not None else None

    def feed(self, text: str) -> ParsedDelta:
        self._fed_chars += len(text)
        reasoning, tools = self._reasoning, self._tools
        if reasoning is not None and not reasoning.passing:
            step = reasoning.feed(text)
            self._content_chars += len(step.content)
            return self._after_reasoning(step)
        # The text is content (no reasoning parser, or one past the block for good); most
        # pieces then pass the tool parser unchanged too, and it says so before `feed`.
        self._content_chars += len(text)
        if (tools is None or tools.passes(text)) and not self._held_reasoning:
            return ParsedDelta(text)
        return self._after_reasoning(ReasoningDelta(content=text))

    def finish(self) -> ParsedDelta:
        out = ParsedDelta()
        if self._reasoning is not None:
            step = self._reasoning.finish()
            self._content_chars += len(step.content)
            out.extend(self._after_reasoning(step))
        if self._tools is not None:
            out.extend(self._from_tools(self._tools.finish()))
            out.tool_calls.extend(self._guard.close())
        if self._held_reasoning:
            out.reasoning, self._held_reasoning = self._held_reasoning + out.reasoning, ""
        return out

    def _after_reasoning(self, step: ReasoningDelta) -> ParsedDelta:
        if step.content and self._tools is not None:
            out = self._from_tools(self._tools.feed(step.content))
            out.reasoning = step.reasoning
        else:
            out = ParsedDelta(step.content, step.reasoning)
        if not self._stream_reasoning:
            # Hold reasoning until it is complete: released with the first content or at the end.
            self._held_reasoning += out.reasoning
            out.reasoning = ""
            if (out.content or out.tool_calls) and self._held_reasoning:
                out.reasoning, self._held_reasoning = self._held_reasoning, ""
        return out

    def _from_tools(self, delta: ToolDelta) -> ParsedDelta:
        if not delta.calls:  # most feeds: text only
            return ParsedDelta(delta.content)
        calls = list(delta.calls)
        if self._single_call:
            calls = [c for c in calls if c.index == 0]  # parallel_tool_calls: false
        return ParsedDelta(content=delta.content, tool_calls=self._guard.admit(calls))


@dataclass(slots=True, frozen=True)
class ParserPlan:
    """What one chat request runs: built in prepare, instantiated per choice."""

    reasoning_cls: type | None = None
    tool_cls: type[ToolParser] | None = None
    tools: tuple[ToolSpec, ...] = ()
    named_tool: str | None = None
    prompt_text: str = ""
    enable_thinking: bool | None = None
    stream_reasoning: bool = True
    single_call: bool = False

    def processor(self) -> OutputProcessor | PassthroughProcessor:
        reasoning = (self.reasoning_cls(prompt_text=self.prompt_text, enable_thinking=self.enable_thinking)
                     if self.reasoning_cls is not None else None)
        tools: ToolParser | None = None
        if self.named_tool is not None:
            tools = _NamedToolParser(self.tools, self.named_tool)
        elif self.tool_cls is not None:
            tools = self.tool_cls(self.tools)
            if reasoning is not None and self.tool_cls.call_starts:
                # A call may cut the reasoning block short (the block never closes).
                reasoning.watch_calls(self.tool_cls.call_starts, partial(self.tool_cls.whole_calls, tools=self.tools))
        if reasoning is None and tools is None:
            return PassthroughProcessor()
        return OutputProcessor(reasoning, tools, stream_reasoning=self.stream_reasoning,
                               single_call=self.single_call)

    def markers(self) -> tuple[str, ...]:
        found: list[str] = []
        for cls in (self.reasoning_cls, self.tool_cls):
            found.extend(getattr(cls, "special_markers", ()) if cls is not None else ())
        return tuple(found)


def _required_schema(tools: Sequence[ToolSpec]) -> str:
    """`tool_choice: required`: an array of one or more {name, parameters} objects."""
    items = [{"type": "object", "properties": {"name": {"type": "string", "enum": [t.name]},
                                               "parameters": t.parameters or {"type": "object"}},
              "required": ["name", "parameters"]} for t in tools]
    return json.dumps({"type": "array", "minItems": 1, "items": {"anyOf": items}}, ensure_ascii=False)


def _named(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        if tool_choice.get("type") == "function" and isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn["name"]
        raise InvalidRequestError("tool_choice must be none, auto, required or {type: function, function: {name}}",
                                  param="tool_choice")
    if tool_choice not in (None, "none", "auto", "required"):
        raise InvalidRequestError(f"unknown tool_choice {tool_choice!r}", param="tool_choice")
    return None


def plan_parsers(*, reasoning_cls: type | None, tool_cls: type[ToolParser] | None, tools: list[dict[str, Any]] | None,
                 tool_choice: Any, parallel_tool_calls: bool | None, separate_reasoning: bool,
                 stream_reasoning: bool, prompt_text: str, enable_thinking: bool | None,
                 ) -> tuple[ParserPlan, tuple[str, str] | None]:
    """The parser plan of a chat request and the constraint `tool_choice` imposes, if any."""
    from sglang_gw.parsers.tools import TOOL_PARSERS

    specs = ToolSpec.from_openai(tools)
    named = _named(tool_choice)
    constraint: tuple[str, str] | None = None
    active_tool_cls: type[ToolParser] | None = None
    if specs and tool_choice != "none":
        if named is not None:
            spec = next((t for t in specs if t.name == named), None)
            if spec is None:
                raise InvalidRequestError(f"tool_choice names {named!r}, which is not in tools", param="tool_choice")
            constraint = ("json_schema", json.dumps(spec.parameters or {"type": "object"}, ensure_ascii=False))
        elif tool_choice == "required":
            constraint = ("json_schema", _required_schema(specs))
            active_tool_cls = TOOL_PARSERS.get("json")
        else:
            active_tool_cls = tool_cls
    elif tool_choice == "required" or named is not None:
        raise InvalidRequestError("tool_choice requires tools", param="tool_choice")
    plan = ParserPlan(
        reasoning_cls=reasoning_cls if separate_reasoning else None, tool_cls=active_tool_cls, tools=specs,
        named_tool=named if specs and tool_choice != "none" else None, prompt_text=prompt_text,
        enable_thinking=enable_thinking, stream_reasoning=stream_reasoning,
        single_call=parallel_tool_calls is False,
    )
    return plan, constraint
