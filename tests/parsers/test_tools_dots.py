"""dots: MiniMax-M2-style invokes in `<dots_function_call>`, names quoted or bare, values
trimmed and typed (as SGLang's and vLLM's dots parsers read them), split every way."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_tool_parser
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.tool_cases import CASES, Call, ToolCase


def value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def invoke(call: Call) -> str:
    params = "".join(f'<parameter name="{k}">{value(v)}</parameter>\n' for k, v in call.args.items())
    return f'<invoke name="{call.name}">\n{params}</invoke>\n'


def render(case: ToolCase) -> str:
    block = "<dots_function_call>\n" + "".join(invoke(c) for c in case.calls) + "</dots_function_call>"
    return case.before + (block if case.calls else "") + case.after


STRIPPED = {"markup_in_string", "escapes", "unicode"}  # values the peers strip keep inner text only


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("dots", render(case))
    if case.id == "undeclared":  # the invoke as written; the block's markers are markup
        assert (result.content.strip(), result.calls) == (invoke(case.calls[0]).strip(), [])
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_bare_and_quoted_names_and_trimmed_values() -> None:
    text = ("<dots_function_call>\n<invoke name=search>\n<parameter name='query'>\n  rain  \n</parameter>\n"
            "<parameter name=limit> 3 </parameter>\n</invoke>\n</dots_function_call>")
    assert calls_of(parse("dots", text)) == [("search", {"query": "rain", "limit": 3})]


def test_json_body_is_a_call_too() -> None:
    # Both peers take a JSON call object as a block's body (their fallback form).
    text = 'Ok <dots_function_call>\n{"name": "search", "arguments": {"query": "tables"}}\n</dots_function_call>'
    result = parse("dots", text)
    assert (result.content, result.calls) == ("Ok ", [{"name": "search", "arguments": '{"query": "tables"}'}])


def test_json_body_naming_an_undeclared_tool_is_content() -> None:
    text = '<dots_function_call>{"name": "ghost", "arguments": {}}</dots_function_call>'
    result = parse("dots", text)
    assert (result.content, result.calls) == ('{"name": "ghost", "arguments": {}}', [])


def test_garbled_block_is_content_and_a_later_block_still_calls() -> None:
    text = ('<dots_function_call>garbage</dots_function_call><dots_function_call><invoke name="search">'
            '<parameter name="query">chairs</parameter></invoke></dots_function_call>')
    result = parse("dots", text)
    assert (result.content, calls_of(result)) == ("garbage", [("search", {"query": "chairs"})])


def test_auto_by_template_marker() -> None:
    assert detect_tool_parser("fine-tune", (), "wrap calls in <dots_function_call> tags") == "dots"
