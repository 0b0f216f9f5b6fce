"""Apertus (`apertus`, `apertus2509`): one-key call objects in `<|tools_prefix|>[…]<|tools_suffix|>`,
split every way; its `<|inner_prefix|>` reasoning and the `auto` rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, ToolCase


def render(case: ToolCase) -> str:
    # The template: '{"' + name + '": ' + arguments + '}', ", " between calls.
    if not case.calls:
        return case.before + case.after
    items = ", ".join('{"' + c.name + '": ' + json.dumps(c.args, ensure_ascii=False) + "}" for c in case.calls)
    return f"{case.before}<|tools_prefix|>[{items}]<|tools_suffix|>{case.after}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("apertus", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == ('{"launch_missiles":{"target": "moon"}}', [])
        return
    assert result.content == (case.before.rstrip() if case.calls else case.before) + case.after
    assert calls_of(result) == expected_calls(case)


def test_peer_names() -> None:
    assert TOOL_PARSERS.get("apertus2509") is TOOL_PARSERS.get("apertus")
    assert REASONING_PARSERS.get("apertus2509") is REASONING_PARSERS.get("apertus")


@pytest.mark.parametrize(("text", "content", "calls"), [
    ("<|tools_prefix|> is a marker", "<|tools_prefix|> is a marker", []),  # no `[`: text
    ('<|tools_prefix|>[oops]<|tools_suffix|>', "oops]<|tools_suffix|>", []),  # not an item: text again
    ('<|tools_prefix|>[{"noop": {}}]<|tools_suffix|>', "", [("noop", {})]),
    # A key JSON cannot read (a raw tab in it) is no call: text again, never an error.
    ('<|tools_prefix|>[{"a\tb": {}}]<|tools_suffix|>', '{"a\tb": {}}]<|tools_suffix|>', []),
])
def test_malformed(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("apertus", text)
    assert (result.content, calls_of(result)) == (content, calls)


def test_arguments_stream_as_written() -> None:
    parser = TOOL_PARSERS.get("apertus")(())
    delta = parser.feed('<|tools_prefix|>[{"search": {"query": "rai')
    assert "".join(c.arguments for c in delta.calls) == '{"query": "rai'


@pytest.mark.parametrize(("output", "expected"), [
    ("<|inner_prefix|>Let me think.<|inner_suffix|>Paris.", ("Let me think.", "Paris.")),
    ("Paris.", ("", "Paris.")),  # no block: content (vLLM: a plain answer is content)
    # A call made while thinking ends reasoning; the call stays for the tool parser.
    ('<|inner_prefix|>Check.<|tools_prefix|>[{"noop": {}}]<|tools_suffix|>',
     ("Check.", '<|tools_prefix|>[{"noop": {}}]<|tools_suffix|>')),
])
def test_reasoning(output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("apertus")
    assert split_invariant_reasoning(lambda: cls(prompt_text="<|assistant_start|>"), output) == expected


def test_auto() -> None:
    for model in ("swiss-ai/Apertus-8B-Instruct-2509", "swiss-ai/Apertus-70B-Instruct-2509"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == ("apertus", "apertus")
    assert detect_tool_parser("org/fine-tune", ["<|tools_prefix|>", "<|tools_suffix|>"], None) == "apertus"
    assert detect_reasoning_parser("org/fine-tune", ["<|inner_prefix|>", "<|inner_suffix|>"], None) == "apertus"
