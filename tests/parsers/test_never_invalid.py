"""Issue 25 item 4: no emitted `arguments` string is invalid JSON, and lenient forms parse."""

from __future__ import annotations

import json

import pytest

from sglang_gw.parsers.tools._json_guard import completion
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers._tool_helpers import calls_of, factory, parse

TOOLS = (ToolSpec("get_weather"), ToolSpec("f"))


def test_pythonic_overflowing_number_stays_a_json_number() -> None:
    result = parse("pythonic", "[get_weather(x=1e999, y=[2e400])]", tools=TOOLS, family="llama31")
    assert result.calls[0]["arguments"] == '{"x": 1e999, "y": [2e400]}'
    assert "Infinity" not in result.calls[0]["arguments"]


@pytest.mark.parametrize("parser", ["hermes", "json"])
def test_bare_string_arguments_become_a_json_string(parser: str) -> None:
    text = '{"name": "get_weather", "arguments": "hello"}'
    text = f"<tool_call>\n{text}\n</tool_call>" if parser == "hermes" else f"[{text}]"
    result = parse(parser, text, tools=TOOLS)
    assert result.calls[0]["arguments"] == '"hello"'


def test_stringified_object_arguments_are_still_decoded() -> None:
    text = '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>'
    assert calls_of(parse("hermes", text, tools=TOOLS)) == [("get_weather", {"city": "Paris"})]


def test_cohere_text_markers_are_dropped_by_the_tool_parser() -> None:
    result = parse("cohere", "<|START_TEXT|>Hello there.<|END_TEXT|>", tools=TOOLS, family="qwen3")
    assert result.content == "Hello there." and not result.calls


def test_cohere_single_object_action() -> None:
    text = ('<|START_ACTION|>{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "P"}}'
            "<|END_ACTION|>")
    result = parse("cohere", text, tools=TOOLS)
    assert calls_of(result) == [("get_weather", {"city": "P"})] and result.content == ""


@pytest.mark.parametrize(("prefix", "suffix"), [
    ("", "{}"), ('{"a": 1}', ""), ('{"a": tru', "e}"), ('{"a": "x', '"}'), ('{"a":', "null}"),
    ('{"a', '":null}'), ("[1,", "null]"), ('{"a": -', "0}"), ('{"a": "\\u12', '00"}'), ('{"a": "x\\', '\\"}'),
    ("hello", None), ('{"a": 1}}', None), ("NaN", None), ('{"a": Infinity}', None), ("[1,]", None),
    ('{"a": 01}', None), ('{"a": truex}', None),
])
def test_completion_of_a_json_prefix(prefix: str, suffix: str | None) -> None:
    assert completion(prefix) == suffix
    if suffix is not None:
        json.loads(prefix + suffix)


def _through_processor(parser: str, text: str, chunks: int = 1) -> dict[int, str]:
    proc = OutputProcessor(None, factory(parser, TOOLS)())
    args: dict[int, str] = {}
    step = max(1, len(text) // chunks)
    deltas = [proc.feed(text[i:i + step]) for i in range(0, len(text), step)] + [proc.finish()]
    for delta in deltas:
        for call in delta.tool_calls:
            args[call.index] = args.get(call.index, "") + call.arguments
    return args


@pytest.mark.parametrize("chunks", [1, 3, 17])
def test_guard_ends_a_cut_off_call_as_valid_json(chunks: int) -> None:
    args = _through_processor("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par', chunks)
    assert json.loads(args[0]) == {"city": "Par"}


def test_guard_ends_a_call_broken_after_its_name() -> None:
    args = _through_processor("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"ok": tru}}\n</tool_call>')
    assert json.loads(args[0]) == {"ok": True}


# -- never lost: a block that cannot be parsed is content, whole and in order

_V31 = ("<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
        "<｜tool▁sep｜>")


@pytest.mark.parametrize("section", [
    "garbage",
    f"{_V31[2]}nope here{_V31[4]}{{}}{_V31[3]}",  # a malformed head: no call in the section
    f"{_V31[2]}undeclared{_V31[4]}{{}}{_V31[3]}",
])
def test_deepseek_v31_section_without_a_call_is_content_whole(section: str) -> None:
    text = f"hi {_V31[0]}{section}{_V31[1]} bye"
    result = parse("deepseek_v31", text, family="deepseek_r1")
    assert result.calls == [] and result.content == text


def test_deepseek_v31_garbage_section_exactly_as_issue_25_gives_it() -> None:
    text = "hi<｜tool▁calls▁begin｜>garbage<｜tool▁calls▁end｜>bye"
    assert parse("deepseek_v31", text, family="deepseek_r1").content == text


def test_deepseek_v31_section_cut_off_before_a_call_is_content_whole() -> None:
    text = f"hi{_V31[0]}garbage"
    result = parse("deepseek_v31", text, family="deepseek_r1")
    assert result.calls == [] and result.content == text


def test_deepseek_v31_section_with_a_call_keeps_its_markup_out() -> None:
    text = f"hi{_V31[0]}\n{_V31[2]}get_weather{_V31[4]}{{\"city\": \"P\"}}{_V31[3]}{_V31[1]}bye"
    result = parse("deepseek_v31", text, family="deepseek_r1")
    assert calls_of(result) == [("get_weather", {"city": "P"})] and result.content == "hibye"


@pytest.mark.parametrize("text", [
    '[get_weather(city="Paris"), get_time(zone=)]',
    '[get_weather(city="Paris"), f(x=1 2)] after',
    'Sure: [get_weather(city="Paris"), 3]',
    '[get_weather(city="Paris") + 1] tail',
])
def test_pythonic_list_with_a_broken_sibling_is_content_whole(text: str) -> None:
    tools = (*TOOLS, ToolSpec("get_time"))
    result = parse("pythonic", text, tools=tools, family="llama31")
    assert result.calls == [] and result.content == text


@pytest.mark.parametrize("chunks", [1, 7])
@pytest.mark.parametrize(("parser", "text"), [
    ("gpt_oss", "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                '{"city": NaN, "x": 1}<|call|>'),
    ("cohere", '<|START_ACTION|>{"tool_name": "get_weather", "parameters": {"city": Infinity}}<|END_ACTION|>'),
])
def test_guard_cuts_arguments_where_they_stop_being_json(parser: str, text: str, chunks: int) -> None:
    """Passed-through arguments holding Python's NaN/Infinity end before them, closed."""
    assert _through_processor(parser, text, chunks) == {0: '{"city": null}'}


def test_guard_escapes_control_characters_inside_strings() -> None:
    text = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "a\tb\nc"}<|call|>'
    args = _through_processor("gpt_oss", text, 5)
    assert args == {0: '{"city": "a\\tb\\nc"}'} and json.loads(args[0]) == {"city": "a\tb\nc"}
