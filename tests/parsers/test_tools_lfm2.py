"""LFM2 (`lfm2`): a pythonic call list between `<|tool_call_start|>` and `<|tool_call_end|>`,
read as `pythonic` reads Llama's; the tokens are markup; the `auto` rows."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_tool_parser
from tests.parsers._tool_helpers import calls_of, parse

S, E = "<|tool_call_start|>", "<|tool_call_end|>"


@pytest.mark.parametrize(("text", "content", "calls"), [
    (f'{S}[get_weather(city="Paris")]{E}', "", [("get_weather", {"city": "Paris"})]),
    (f'Let me check.{S}[get_weather(city="Oslo", unit="c"), search(query="rain", limit=3)]{E}', "Let me check.",
     [("get_weather", {"city": "Oslo", "unit": "c"}), ("search", {"query": "rain", "limit": 3})]),
    (f"{S}[noop()]{E}Done.", "Done.", [("noop", {})]),
    (f"{S}[search(exact=True, filters={{'a': None}})]{E}", "", [("search", {"exact": True, "filters": {"a": None}})]),
    ("A list [1, 2] is text.", "A list [1, 2] is text.", []),
    # One argument that is not Python: the whole list is content (as pythonic).
    (f"{S}[get_weather(city=)]{E}", "[get_weather(city=)]", []),
    # SGLang also reads a JSON list between the tokens; here it is content.
    (f'{S}[{{"name": "noop", "arguments": {{}}}}]{E}', '[{"name": "noop", "arguments": {}}]', []),
])
def test_calls(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("lfm2", text)
    assert (result.content, calls_of(result)) == (content, calls)


def test_auto() -> None:
    for model in ("LiquidAI/LFM2-1.2B", "LiquidAI/LFM2-8B-A1B", "LiquidAI/LFM2.5-1.2B-Instruct"):
        assert detect_tool_parser(model, (), None) == "lfm2"
    assert detect_tool_parser("org/fine-tune", [S, E], None) == "lfm2"
