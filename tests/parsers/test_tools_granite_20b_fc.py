"""granite-20b-functioncalling: `<function_call> {…}` before each call, split every way."""

from __future__ import annotations

import json

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.tool_cases import CASES, Call, ToolCase


def unit(call: Call) -> str:
    return "<function_call> " + json.dumps({"name": call.name, "arguments": call.args}, ensure_ascii=False)


def render(case: ToolCase) -> str:
    lead = "\n" if case.before and case.calls else ""
    return case.before + lead + "\n".join(unit(c) for c in case.calls) + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("granite-20b-fc", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before.rstrip() + case.after
    assert calls_of(result) == expected_calls(case)


@pytest.mark.parametrize("text", [
    '{"name": "noop", "arguments": {}}',  # no marker: text
    '<function_call> {"name": 123}',  # no name
    "The <function_call> tag starts a call.",  # the marker in prose
])
def test_not_calls_are_content(text: str) -> None:
    result = parse("granite-20b-fc", text)
    assert (result.content, result.calls) == (text, [])


def test_multiline_object() -> None:
    text = '<function_call> {\n  "name": "search",\n  "arguments": {\n    "query": "rain",\n    "limit": 3\n  }\n}'
    assert calls_of(parse("granite-20b-fc", text)) == [("search", {"query": "rain", "limit": 3})]


def test_auto() -> None:
    model = "ibm-granite/granite-20b-functioncalling"
    assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == (None, "granite-20b-fc")
