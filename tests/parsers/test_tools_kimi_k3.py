"""Kimi-K3 (XTML channels): the shared cases in its tools channel, split every way;
argument typing, wrappers, malformed calls, its reasoning channel and the `auto` rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools.kimi_k3 import attributes, typed_json
from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, ToolCase

OP, C, S = "<|open|>", "<|close|>", "<|sep|>"


def k3_type(value: Any) -> str:
    # The encoder derives `type=` from the value (an integer is a "number").
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, dict) else "array"


def k3_call(call: Any, index: int) -> str:
    args = "".join(f'{OP}argument key="{k}" type="{k3_type(v)}"{S}'
                   f"{v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}{C}argument{S}"
                   for k, v in call.args.items())
    return f'{OP}call tool="{call.name}" index="{index}"{S}{args}{C}call{S}'


def render(case: ToolCase) -> str:
    text = f"{OP}response{S}{case.before}{C}response{S}" if case.before else ""
    if case.calls:
        text += f"{OP}tools{S}" + "".join(k3_call(c, i + 1) for i, c in enumerate(case.calls)) + f"{C}tools{S}"
    return text + case.after + f"{C}message{S}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("kimi_k3", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (k3_call(case.calls[0], 1), [])
        return
    assert result.content == case.before.rstrip() + case.after
    assert calls_of(result) == expected_calls(case)


def test_string_values_stream_before_they_close() -> None:
    text = render(next(c for c in CASES if c.id == "unicode"))
    cut = text.index("naïve") + len("naïve")
    streamed = "".join(c.arguments for c in factory("kimi_k3")().feed(text[:cut]).calls)
    assert streamed == '{"city": "Zürich 🌧️ naïve'


@pytest.mark.parametrize(("raw", "json_text"), [
    ("3", "3"), (' {"a": [1, "b"]} ', '{"a": [1, "b"]}'), ("1e999", "1e999"),
    ("NaN", '"NaN"'), ("not json", '"not json"'), ("", '""'),
])
def test_non_string_arguments_are_json_or_their_text(raw: str, json_text: str) -> None:
    assert typed_json(raw) == json_text


def test_attribute_values_are_unescaped() -> None:
    assert attributes(' tool="say &quot;hi&quot; &amp; go" index="1"') == {"tool": 'say "hi" & go', "index": "1"}


@pytest.mark.parametrize(("text", "content", "calls"), [
    # The answer's wrappers never reach the client (vLLM: content stops at message close).
    (f"Hello{C}message{S}", "Hello", []),
    (f"{OP}response{S}Hello{C}response{S}{C}message{S}", "Hello", []),
    # A call head without `tool` is content through its closing marker.
    (f'{OP}tools{S}{OP}call index="1"{S}x{C}call{S}{C}tools{S}', f'{OP}call index="1"{S}x{C}call{S}', []),
    # A call cut off by the tools channel's end still ends well.
    (f'{OP}tools{S}{OP}call tool="get_weather" index="1"{S}{OP}argument key="city" type="string"{S}Oslo'
     f"{C}argument{S}{C}tools{S}", "", [("get_weather", {"city": "Oslo"})]),
    # An argument head without `key` is skipped.
    (f'{OP}tools{S}{OP}call tool="noop" index="1"{S}{OP}argument type="string"{S}x{C}argument{S}{C}call{S}{C}tools{S}',
     "", [("noop", {})]),
])
def test_wrappers_and_malformed(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("kimi_k3", text)
    assert (result.content, calls_of(result)) == (content, calls)


def test_cut_off_call_keeps_its_arguments_so_far() -> None:
    text = f'{OP}tools{S}{OP}call tool="search" index="1"{S}{OP}argument key="query" type="string"{S}rai'
    assert parse("kimi_k3", text, valid_json=False).calls == [{"name": "search", "arguments": '{"query": "rai"'}]


@pytest.mark.parametrize(("prompt", "output", "expected"), [
    (f"x{OP}think{S}", f"Plan.{C}think{S}{OP}response{S}Hi!{C}response{S}{C}message{S}", ("Plan.", "Hi!")),
    (f"x{OP}response{S}", f"Hi!{C}response{S}{C}message{S}", ("", "Hi!")),
    ("x", f"{OP}think{S}Plan.{C}think{S}{OP}response{S}Hi!{C}response{S}", ("Plan.", "Hi!")),
    # A forced tool call may open `tools` straight from `think`: reasoning ends, the channel stays.
    (f"x{OP}think{S}", f"Plan.{OP}tools{S}{OP}call", ("Plan.", f"{OP}tools{S}{OP}call")),
])
def test_reasoning(prompt: str, output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("kimi_k3")
    assert split_invariant_reasoning(lambda: cls(prompt_text=prompt), output) == expected


def test_auto() -> None:
    model = "moonshotai/Kimi-K3"
    assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == ("kimi_k3", "kimi_k3")
    assert detect_tool_parser("moonshotai/Kimi-K2-Instruct", (), None) == "kimi_k2"  # not shadowed
    assert detect_tool_parser("org/fine-tune", ["<|open|>", "<|close|>", "<|sep|>"], None) == "kimi_k3"
    assert detect_reasoning_parser("org/fine-tune", ["<|open|>", "<|close|>", "<|sep|>"], None) == "kimi_k3"
