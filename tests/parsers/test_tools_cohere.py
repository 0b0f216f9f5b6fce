"""The Cohere Command-A tool parser (qwen3's byte-level tokenizer stands in for token splits)."""

from __future__ import annotations

import json

import pytest

from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.tool_cases import CASES, ToolCase


def action_item(i: int, name: str, args: dict, ensure_ascii: bool = False) -> str:
    return json.dumps({"tool_call_id": str(i), "tool_name": name, "parameters": args}, ensure_ascii=ensure_ascii)


def render(case: ToolCase) -> str:
    """As the Command-A template writes an assistant turn (the plan is reasoning, not here)."""
    if not case.calls:
        return f"<|START_RESPONSE|>{case.before}<|END_RESPONSE|>"
    items = ",".join(f"\n    {action_item(i, c.name, c.args)}" for i, c in enumerate(case.calls))
    return f"{case.before}<|START_ACTION|>[{items}\n]<|END_ACTION|>{case.after}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("cohere", render(case))
    if case.id == "undeclared":
        assert result.calls == []
        assert result.content == action_item(0, "launch_missiles", {"target": "moon"})
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_parameters_pass_through_as_written_and_stream() -> None:
    item = action_item(0, "search", {"query": "東京 <b>"}, ensure_ascii=True)
    text = f"<|START_ACTION|>[{item}]<|END_ACTION|>"
    result = parse("cohere", text)
    assert result.calls[0]["arguments"] == json.dumps({"query": "東京 <b>"})  # the model's own escapes
    parser = factory("cohere")()
    delta = parser.feed(text[:text.index("<b>")])  # type: ignore[attr-defined]
    assert delta.calls[0].name == "search" and delta.calls[0].arguments.startswith('{"query": ')


def test_parameters_before_name_missing_or_not_an_object() -> None:
    text = ('<|START_ACTION|>[{"parameters": {"city": "Lima"}, "tool_name": "get_weather"},'
            '{"tool_name": "noop"}, {"tool_name": "noop", "parameters": null}, {"tool_call_id": "3"}]'
            "<|END_ACTION|>")
    result = parse("cohere", text)
    assert calls_of(result) == [("get_weather", {"city": "Lima"}), ("noop", {}), ("noop", {})]
    assert result.content == '{"tool_call_id": "3"}'


def test_response_and_thinking_markers_are_dropped() -> None:
    text = "<|START_THINKING|>plan<|END_THINKING|><|START_RESPONSE|>Hello {x} [y]<|END_RESPONSE|>"
    assert parse("cohere", text).content == "planHello {x} [y]"


@pytest.mark.parametrize(("text", "calls", "content"), [
    ('<|START_ACTION|>[{"tool_name": "search", "parameters": {"query": "cu', [("search", '{"query": "cu')], ""),
    ('<|START_ACTION|>[{"tool_name": "sea', [], '{"tool_name": "sea'),
    ("<|START_ACTION|>not json<|END_ACTION|>after", [], "not jsonafter"),
    ('<|START_ACTION|>[{"tool_name": "noop"} oops]', [("noop", "{}")], "oops]"),
])
def test_truncated_and_malformed(text: str, calls: list, content: str) -> None:
    result = parse("cohere", text, valid_json=False)
    assert [(c["name"], c["arguments"]) for c in result.calls] == calls
    assert result.content == content


def test_generic_name_and_arguments_keys() -> None:
    """`name`/`arguments` stand for `tool_name`/`parameters`; the first key of a pair wins."""
    text = ('<|START_ACTION|>[{"name": "search", "arguments": {"query": "rust"}},'
            ' {"tool_name": "noop", "parameters": {"a": 1}, "arguments": {"b": 2}}]<|END_ACTION|>')
    result = parse("cohere", text)
    assert calls_of(result) == [("search", {"query": "rust"}), ("noop", {"a": 1})]
    assert result.content == ""
