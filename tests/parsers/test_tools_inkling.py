"""Inkling (`inkling`, smg and SGLang): TML messages, a call being
`<|content_invoke_tool_json|>{"name": …, "args": {…}}<|end_message|>`; framing is markup."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers._tool_helpers import calls_of, parse

TOOLS = (ToolSpec("search"), ToolSpec("get_weather"))
CALL, END, MODEL, TEXT = "<|content_invoke_tool_json|>", "<|end_message|>", "<|message_model|>", "<|content_text|>"


@pytest.mark.parametrize(("text", "content", "calls"), [
    (f'{MODEL}{TEXT}I will check.{END}{MODEL}search{CALL}{{"name":"search","args":{{"query":"Rust {{x}}"}}}}{END}'
     f'{MODEL}get_weather{CALL}{{"name":"get_weather","args":{{"city":"Tokyo"}}}}{END}<|content_model_end_sampling|>',
     "I will check.", [("search", {"query": "Rust {x}"}), ("get_weather", {"city": "Tokyo"})]),
    (f'{CALL} {{"args": {{"city": "Paris"}}, "name": "get_weather"}} {END}', "",
     [("get_weather", {"city": "Paris"})]),  # keys in any order, blanks around the object
    (f"{MODEL}{TEXT}Hello{END}", "Hello", []),
    # Not calls: content as written (the end token is framing).
    (f'Before{CALL}{{"name":"nope","args":{{}}}}{END}', f'Before{CALL}{{"name":"nope","args":{{}}}}', []),
    (f"{CALL}not json{END}", f"{CALL}not json", []),
    (f"{MODEL}<|content_invoke_tool_text|>search for rain{END}", "<|content_invoke_tool_text|>search for rain", []),
    (f"{MODEL}a header cut off", f"{MODEL}a header cut off", []),
])
def test_inkling(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("inkling", text, tools=TOOLS)
    assert (result.content, calls_of(result)) == (content, calls)


def test_a_cut_off_call_keeps_valid_json_arguments() -> None:
    """Through the output processor, as the gateway runs it: the guard closes the JSON."""
    proc = OutputProcessor(None, TOOL_PARSERS.get("inkling")(TOOLS))
    deltas = [proc.feed(f'{CALL}{{"name":"search","args":{{"query":"ru'), proc.finish()]
    arguments = "".join(c.arguments for d in deltas for c in d.tool_calls)
    assert json.loads(arguments) == {"query": "ru"}
