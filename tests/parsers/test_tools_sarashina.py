"""Sarashina (`sarashina`, smg): a Python-literal list of call dicts, after `<|tool_calls|>`
or bare at the start of the output (the marker is a special token a decoder may strip)."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.types import ToolSpec
from tests.parsers._tool_helpers import calls_of, parse

TOOLS = (ToolSpec("search"), ToolSpec("get_weather"))
MARK = "<|tool_calls|>"


@pytest.mark.parametrize(("text", "content", "calls"), [
    (f"{MARK}[{{'name': 'get_weather', 'arguments': {{'city': 'Tokyo'}}}}]", "", [("get_weather", {"city": "Tokyo"})]),
    ("  [ {'name': 'search', 'arguments': {'q': 'a, b]', 'n': 3, 'exact': True, 'lang': None}},\n"
     " {'name': 'get_weather', 'arguments': {'city': 'Paris', 'days': (1, 2)}}]",
     "", [("search", {"q": "a, b]", "n": 3, "exact": True, "lang": None}),
          ("get_weather", {"city": "Paris", "days": [1, 2]})]),
    (f"Let me look. {MARK}{{'name': 'search'}}\nDone.", "Let me look.Done.", [("search", {})]),  # one dict, no args
    (f"{MARK}[{{'name': 'search', 'arguments': {{'q': 'it\\'s \"x\"'}}}}]", "", [("search", {"q": "it's \"x\""})]),
    # An undeclared item is content (its source); the declared ones are calls.
    ("[{'name': 'nope', 'arguments': {}}, {'name': 'search', 'arguments': {}}]",
     "{'name': 'nope', 'arguments': {}}", [("search", {})]),
    # Not calls: content as written (the marker is markup, dropped).
    ("[1, 2, 3]", "[1, 2, 3]", []),
    ("Sorted: [{'name': 'search'}]", "Sorted: [{'name': 'search'}]", []),  # a bare list only at the start
    ("[{'name': 'nope', 'arguments': {}}]", "[{'name': 'nope', 'arguments': {}}]", []),
    ("[{'name': 'search', 'arguments': 'q'}]", "[{'name': 'search', 'arguments': 'q'}]", []),
    (f"{MARK}[{{'name': 'search', 'arguments': {{'q': f(x)}}}}]", "[{'name': 'search', 'arguments': {'q': f(x)}}]", []),
    (f"a {MARK} plain", "aplain", []),
    # Cut off: finished items are calls, the rest is content.
    ("[{'name': 'search', 'arguments': {}}, {'name': 'get_weather', 'arguments': {'city': 'Pa",
     "{'name': 'get_weather', 'arguments': {'city': 'Pa", [("search", {})]),
    ("[{'name': 'search', 'argu", "[{'name': 'search', 'argu", []),
])
def test_sarashina(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("sarashina", text, tools=TOOLS)
    assert (result.content, calls_of(result)) == (content, calls)


def test_without_declared_tools_every_name_is_a_call() -> None:
    result = parse("sarashina", "[{'name': 'anything', 'arguments': {'k': 1}}]", tools=())
    assert calls_of(result) == [("anything", {"k": 1})]
