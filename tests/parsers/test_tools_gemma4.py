"""Gemma 4 and FunctionGemma: the shared cases as their chat templates write calls, split
every way; malformed calls, Gemma 4 thinking, and the `auto` rows."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools._gemma_args import bare_json
from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, ToolCase

WIRES = {  # parser → (call open, call close, string quote)
    "gemma4": ("<|tool_call>", "<tool_call|>", '<|"|>'),
    "functiongemma": ("<start_function_call>", "<end_function_call>", "<escape>"),
}


def gemma_value(value: Any, quote: str) -> str:
    """The templates' `format_argument(value, escape_keys=False)`."""
    if isinstance(value, str):
        return quote + value + quote
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{gemma_value(v, quote)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(gemma_value(v, quote) for v in value) + "]"
    return str(value)


def gemma_call(parser: str, name: str, args: dict[str, Any]) -> str:
    open_, close, quote = WIRES[parser]
    return f"{open_}call:{name}{gemma_value(args, quote)}{close}"


def render(parser: str, case: ToolCase) -> str:
    return case.before + "".join(gemma_call(parser, c.name, c.args) for c in case.calls) + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("parser", WIRES)
def test_canonical_cases(parser: str, case: ToolCase) -> None:
    result = parse(parser, render(parser, case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(parser, case), [])
        return
    # Whitespace touching call markup is the markup's (the house rule for marker formats).
    assert result.content == (case.before.rstrip() if case.calls else case.before) + case.after
    assert calls_of(result) == expected_calls(case)


@pytest.mark.parametrize("parser", WIRES)
def test_string_values_stream_before_they_close(parser: str) -> None:
    text = render(parser, next(c for c in CASES if c.id == "unicode"))
    cut = text.index("naïve") + len("naïve")
    streamed = "".join(c.arguments for c in factory(parser)().feed(text[:cut]).calls)
    assert streamed == '{"city": "Zürich 🌧️ naïve'


Q = '<|"|>'


@pytest.mark.parametrize(("text", "content", "calls"), [
    # A head that is not `call:NAME{`: the unit is content through its closing token.
    ("a<|tool_call>garbage<tool_call|>b", "a<|tool_call>garbage<tool_call|>b", []),
    ("a<|tool_call>call:get_weather<tool_call|>b", "a<|tool_call>call:get_weather<tool_call|>b", []),
    # Quoted keys (the templates' escape_keys form) and spaces are read too.
    (f"<|tool_call>call:get_weather{{ {Q}city{Q} : {Q}Oslo{Q} }}<tool_call|>", "",
     [("get_weather", {"city": "Oslo"})]),
    # Broken notation ends the call's JSON well; the rest of the unit is markup.
    ("<|tool_call>call:search{limit:3,,junk}<tool_call|>after", "after", [("search", {"limit": 3})]),
    (f"<|tool_call>call:search{{query:{Q}open<tool_call|>after", "after", [("search", {"query": "open"})]),
    ("<|tool_call>call:search{limit:}<tool_call|>", "", [("search", {"limit": None})]),
    # Bare words: the literals, numbers as written, anything else a string.
    ("<|tool_call>call:search{exact:false,score:-1.5e3,query:hello,filters:None}<tool_call|>", "",
     [("search", {"exact": False, "score": -1500.0, "query": "hello", "filters": None})]),
    ("<|tool_call>call:search{tags:[],filters:{}}<tool_call|>", "", [("search", {"tags": [], "filters": {}})]),
])
def test_lenient_and_malformed(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("gemma4", text)
    assert (result.content, calls_of(result)) == (content, calls)


def test_cut_off_call_keeps_its_arguments_so_far() -> None:
    result = parse("gemma4", f"<|tool_call>call:search{{query:{Q}rai", valid_json=False)
    assert result.calls == [{"name": "search", "arguments": '{"query": "rai"'}]  # the string closed, the object not


@pytest.mark.parametrize(("word", "json_text"), [
    ("true", "true"), ("null", "null"), ("None", "null"), ("42", "42"), ("-0.5", "-0.5"), ("1e999", "1e999"),
    ("007", '"007"'), ("NaN", '"NaN"'), ("Infinity", '"Infinity"'), (" spaced ", '"spaced"'),
])
def test_bare_words_are_always_json(word: str, json_text: str) -> None:
    assert bare_json(word) == json_text


@pytest.mark.parametrize(("prompt", "output", "expected"), [
    # enable_thinking: the model opens the channel itself; its `thought` label is markup.
    ("<|turn>model\n", "<|channel>thought\nThe user wants Paris.<channel|>It is sunny.",
     ("The user wants Paris.", "It is sunny.")),
    # Thinking off: the prompt ends with an empty channel.
    ("<|turn>model\n<|channel>thought\n<channel|>", "It is sunny.", ("", "It is sunny.")),
    ("<|turn>model\n", "It is sunny.", ("", "It is sunny.")),
    ("<|turn>model\n", f"<|channel>thought\nCall it.<channel|><|tool_call>call:x{{a:{Q}b{Q}}}<tool_call|>",
     ("Call it.", f"<|tool_call>call:x{{a:{Q}b{Q}}}<tool_call|>")),
])
def test_gemma4_thinking(prompt: str, output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("gemma4")
    assert split_invariant_reasoning(lambda: cls(prompt_text=prompt), output) == expected


def test_auto() -> None:
    for model in ("google/gemma-4-31B-it", "google/gemma-4-E4B-it", "google/gemma-4-26B-A4B-it"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == ("gemma4", "gemma4")
    assert detect_tool_parser("google/functiongemma-270m-it", (), None) == "functiongemma"
    assert detect_reasoning_parser("google/functiongemma-270m-it", (), None) is None
    # Older Gemmas and "…gemma-4b" fine-tunes of other families are not Gemma 4.
    assert detect_tool_parser("google/gemma-3-27b-it", (), None) is None
    assert detect_tool_parser("amd/translategemma-4b-it", (), None) is None
    assert detect_tool_parser("org/fine-tune", ["<|tool_call>", "<tool_call|>"], None) == "gemma4"
    assert detect_tool_parser("org/fine-tune", ["<start_function_call>"], None) == "functiongemma"
    assert detect_reasoning_parser("org/fine-tune", ["<|channel>", "<channel|>"], None) == "gemma4"


def test_quoted_values_are_typed_by_the_schema() -> None:
    # FunctionGemma quotes every value; a declared integer or boolean is typed, a string is not.
    text = ("<start_function_call>call:search{limit:<escape>42<escape>,exact:<escape>true<escape>,"
            "query:<escape>42<escape>}<end_function_call>")
    assert calls_of(parse("functiongemma", text)) == [("search", {"limit": 42, "exact": True, "query": "42"})]


def test_a_missing_comma_between_members_is_read() -> None:
    text = "<start_function_call>call:get_weather{city:<escape>NYC<escape>unit:<escape>c<escape>}<end_function_call>"
    assert calls_of(parse("functiongemma", text)) == [("get_weather", {"city": "NYC", "unit": "c"})]
