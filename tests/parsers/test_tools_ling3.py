"""Ling 3 (`ling3`): GLM's `<tool_call>` key/value format, in every layout SGLang's Ling 3
detector names (a newline after the name or not, an immediate close for no arguments)."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.tools import TOOL_PARSERS
from tests.parsers._tool_helpers import calls_of, parse


def test_ling3_is_a_glm_parser() -> None:
    assert TOOL_PARSERS.get("ling3") is TOOL_PARSERS.get("glm47")


@pytest.mark.parametrize(("text", "content", "calls"), [
    ("<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>", "",
     [("get_weather", {"city": "Paris"})]),
    ("<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>", "",
     [("get_weather", {"city": "Paris"})]),
    ("Checking.<tool_call>noop</tool_call>", "Checking.", [("noop", {})]),
    ("<tool_call>search<arg_key>limit</arg_key><arg_value>3</arg_value></tool_call>"
     "<tool_call>noop</tool_call>", "", [("search", {"limit": 3}), ("noop", {})]),
    ("<tool_call>launch<arg_key>x</arg_key><arg_value>1</arg_value></tool_call>",
     "<tool_call>launch<arg_key>x</arg_key><arg_value>1</arg_value></tool_call>", []),  # undeclared
])
def test_layouts(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("ling3", text)
    assert (result.content, calls_of(result)) == (content, calls)
