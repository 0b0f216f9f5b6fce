"""Spark 2.5 (`spark25`, SGLang) and Poolside Laguna (`poolside_v1`, vLLM and SGLang) write
GLM's `<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>` format."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from tests.parsers._tool_helpers import calls_of, parse

WRITE = ToolSpec("write_file", {"type": "object", "properties": {"content": {"type": "string"},
                                                                  "mode": {"type": "integer"}}})
WEATHER = ToolSpec("get_weather", {"type": "object", "properties": {"city": {"type": "string"},
                                                                     "days": {"type": "integer"}}})
TOOLS = (WRITE, WEATHER, ToolSpec("refresh"))


def test_aliases() -> None:
    assert TOOL_PARSERS.get("spark25") is TOOL_PARSERS.get("glm47")
    assert TOOL_PARSERS.get("poolside_v1") is TOOL_PARSERS.get("glm45")


@pytest.mark.parametrize("name", ["spark25", "poolside_v1"])
@pytest.mark.parametrize(("text", "content", "calls"), [
    # vLLM test_poolside_v1_tool_parser: string values verbatim, others typed by the schema.
    ("<tool_call>write_file\n<arg_key>content</arg_key>\n<arg_value>    def f():\n        return 1\n"
     "</arg_value>\n</tool_call>", "", [("write_file", {"content": "    def f():\n        return 1\n"})]),
    ("<tool_call>write_file\n<arg_key>content</arg_key>\n<arg_value>hi</arg_value>\n<arg_key>mode</arg_key>\n"
     "<arg_value> 420 </arg_value>\n</tool_call>", "", [("write_file", {"content": "hi", "mode": 420})]),
    ("<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>", "",
     [("get_weather", {"city": "Paris"})]),
    ("<tool_call>   </tool_call>", "<tool_call>   </tool_call>", []),
    # SGLang's Spark 2.5 layout: text, then calls back to back, one without arguments.
    ("Looking now.\n<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days"
     "</arg_key><arg_value>3</arg_value></tool_call><tool_call>refresh</tool_call>", "Looking now.\n",
     [("get_weather", {"city": "Paris", "days": 3}), ("refresh", {})]),
    ("<tool_call>launch<arg_key>x</arg_key><arg_value>1</arg_value></tool_call>",
     "<tool_call>launch<arg_key>x</arg_key><arg_value>1</arg_value></tool_call>", []),  # undeclared
])
def test_glm_format(name: str, text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse(name, text, tools=TOOLS)
    assert (result.content, calls_of(result)) == (content, calls)
