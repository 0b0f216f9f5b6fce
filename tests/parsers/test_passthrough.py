"""`passthrough` (reasoning and tools): everything is content, byte for byte, however split."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers._tool_helpers import parse
from tests.parsers.harness import split_invariant_reasoning

OUTPUTS = (
    "",
    "plain answer",
    "<think>\nwhy\n</think>\n\nbecause",
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    "  leading and trailing whitespace \n\n",
    "[TOOL_CALLS][{\"name\": \"noop\", \"arguments\": {}}] ünïcödé 東京",
)


@pytest.mark.parametrize("text", OUTPUTS)
def test_tools_passthrough_keeps_every_character(text: str) -> None:
    result = parse("passthrough", text)
    assert (result.content, result.calls) == (text, [])


@pytest.mark.parametrize("text", OUTPUTS)
def test_reasoning_passthrough_keeps_every_character(text: str) -> None:
    cls = REASONING_PARSERS.get("passthrough")
    assert split_invariant_reasoning(lambda: cls(prompt_text="<think>\n"), text) == ("", text)
