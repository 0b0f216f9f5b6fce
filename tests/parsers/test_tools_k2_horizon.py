"""K2 Horizon (`k2_horizon`, SGLang): `<ifm|tool_call>` blocks, JSON or key/value tags, each
read whole when it closes; a thinking block at the start is content as written."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.types import ToolSpec
from tests.parsers._tool_helpers import calls_of, parse

WEATHER = ToolSpec("get_weather", {"type": "object", "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}, "ids": {"type": "array"}}})
TOOLS = (WEATHER, ToolSpec("search"))
CALL, END = "<ifm|tool_call>", "</ifm|tool_call>"


def tagged(name: str, *args: tuple[str, str], kind: str | None = None) -> str:
    typed = f"<ifm|arg_type>{kind}</ifm|arg_type>" if kind else ""
    pairs = "".join(f"<ifm|arg_key>{k}</ifm|arg_key>{typed}<ifm|arg_value>{v}</ifm|arg_value>" for k, v in args)
    return f"{CALL}{name}{pairs}{END}"


@pytest.mark.parametrize(("text", "content", "calls"), [
    # Tags: typed by the schema; a string parameter keeps its text, even `007`.
    (tagged("get_weather", ("city", "007"), ("days", " 3 "), ("ids", "[1, 2]")), "",
     [("get_weather", {"city": "007", "days": 3, "ids": [1, 2]})]),
    # No schema type: the value's own type tag decides; with neither, the text.
    (tagged("search", ("n", "5"), kind="integer"), "", [("search", {"n": 5})]),
    (tagged("search", ("n", "5")), "", [("search", {"n": "5"})]),
    (f"{CALL}search{END}", "", [("search", {})]),
    # JSON: a list of calls, the `function` wrapper, `parameters`, arguments as a JSON string.
    (f'{CALL}[{{"name": "search", "arguments": {{"q": "a"}}}}, {{"function": {{"name": "get_weather", '
     f'"parameters": {{"days": "2"}}}}}}]{END}', "", [("search", {"q": "a"}), ("get_weather", {"days": 2})]),
    (f'{CALL}{{"name": "search", "arguments": "{{\\"q\\": 1}}"}}{END}', "", [("search", {"q": 1})]),
    # Text around the group; the group tags and the blanks inside are markup.
    (f"Checking.\n<ifm|tool_calls>\n{tagged('search', ('q', 'x'))}\n</ifm|tool_calls>\nDone.", "Checking.Done.",
     [("search", {"q": "x"})]),
    # A thinking block at the start passes through; markup in it is no call.
    (f"<ifm|think_faster>{tagged('search')}</ifm|think_faster>\n{tagged('search', ('q', 'y'))}",
     f"<ifm|think_faster>{tagged('search')}</ifm|think_faster>", [("search", {"q": "y"})]),
    ("<ifm|thinking is not a tag", "<ifm|thinking is not a tag", []),
])
def test_k2_horizon(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("k2_horizon", text, tools=TOOLS)
    assert (result.content, calls_of(result)) == (content, calls)


@pytest.mark.parametrize("text", [
    f'{CALL}[{{"name": "search"}}, {{"name": "nope"}}]{END}',  # one undeclared call: the block
    f"{CALL}search stray<ifm|arg_key>q</ifm|arg_key>{END}",
    f'{CALL}{{"name": "search", "arguments": [1]}}{END}',
    f'{CALL}{{"name": "search", "arguments": {{"n": 1e999}}}}{END}',  # no JSON form
    f"{CALL}search<ifm|arg_key>q</ifm|arg_key><ifm|arg_value>cut",  # cut off
])
def test_a_block_that_is_no_call_is_content_as_written(text: str) -> None:
    result = parse("k2_horizon", text, tools=TOOLS)
    assert (result.content, result.calls) == (text, [])


def test_without_declared_tools_every_name_is_a_call() -> None:
    result = parse("k2_horizon", tagged("anything", ("k", "1")), tools=())
    assert calls_of(result) == [("anything", {"k": "1"})]
