"""MiniCPM 5: `<function name="…"><param name="…">…</param></function>` as its template writes
calls (CDATA around multi-line strings), split every way; and `auto`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.tool_cases import CASES, Call, ToolCase


def value(v: Any) -> str:
    # The template: a string with `<`, `&` or a newline in CDATA; other values `~`-printed
    # (Python's str), which for these cases JSON reads the same once typed.
    if isinstance(v, str):
        return f"<![CDATA[{v}]]>" if any(c in v for c in "<&\n") else v
    return json.dumps(v, ensure_ascii=False)


def cpm_call(call: Call) -> str:
    params = "".join(f'<param name="{k}">{value(v)}</param>' for k, v in call.args.items())
    return f'<function name="{call.name}">{params}</function>'


def render(case: ToolCase) -> str:
    # Each call on its own line after the content (the template's `\n` before a call).
    calls = "".join(("\n" if case.before or i else "") + cpm_call(c) for i, c in enumerate(case.calls))
    return case.before + calls + case.after




@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("minicpm5", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content.rstrip("\n") == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_cdata_multiline_value() -> None:
    text = '<function name="get_weather"><param name="city"><![CDATA[北\n京]]></param></function>\n'
    assert calls_of(parse("minicpm5", text)) == [("get_weather", {"city": "北\n京"})]


def test_values_are_trimmed_and_typed() -> None:
    text = '<function name="search"><param name="query">  rain </param><param name="limit"> 3 </param></function>'
    assert calls_of(parse("minicpm5", text)) == [("search", {"query": "rain", "limit": 3})]


def test_tag_without_name_is_content() -> None:
    text = "Write a <function> tag."
    assert (parse("minicpm5", text).content, parse("minicpm5", text).calls) == (text, [])


def test_auto() -> None:
    assert (detect_reasoning_parser("openbmb/MiniCPM5-1B", (), None),
            detect_tool_parser("openbmb/MiniCPM5-1B", (), None)) == ("qwen3", "minicpm5")
    template = 'using:\\n<function name="function-name"><param name="param-name">param-value</param></function>'
    assert detect_tool_parser("fine-tune", (), template) == "minicpm5"
