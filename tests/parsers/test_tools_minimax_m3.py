"""MiniMax-M3: the shared cases as its chat template writes calls (namespace-token tags,
nested values expanded into tags), split every way; nested decoding, malformed invokes,
its reasoning and the `auto` rows."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools.minimax_m3 import decode_value
from sglang_gw.parsers.types import ToolSpec
from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, ToolCase

NS = "]<]minimax[>["


def to_xml(value: Any) -> str:
    """The template's `to_xml` macro."""
    if isinstance(value, dict):
        return "".join(f"{NS}<{k}>{to_xml(v)}{NS}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"{NS}<item>{to_xml(v)}{NS}</item>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def invoke(call: Any) -> str:
    return f'{NS}<invoke name="{call.name}">{to_xml(call.args)}{NS}</invoke>\n'


def render(case: ToolCase) -> str:
    if not case.calls:
        return case.before + case.after
    body = "".join(invoke(c) for c in case.calls)
    return f"{case.before}{NS}<tool_call>\n{body}{NS}</tool_call>{case.after}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("minimax_m3", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (invoke(case.calls[0]).rstrip("\n"), [])
        return
    assert result.content == (case.before.rstrip() if case.calls else case.before) + case.after
    expected = expected_calls(case)
    if case.id == "typed_nested":  # a leaf under a schema without properties is text, as SGLang reads it
        expected[0][1]["filters"]["since"]["year"] = "2024"
    assert calls_of(result) == expected


def test_string_values_stream_before_their_closing_tag() -> None:
    text = render(next(c for c in CASES if c.id == "unicode"))
    cut = text.index("naïve") + len("naïve")
    streamed = "".join(c.arguments for c in factory("minimax_m3")().feed(text[:cut]).calls)
    assert streamed == '{"city": "Zürich 🌧️ naïve'


ORDER = ToolSpec("create_order", {"type": "object", "properties": {
    "user_id": {"type": "integer"}, "urgent": {"type": "boolean"}, "note": {"type": "string"},
    "shipping": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}}},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "sku": {"type": "string"}, "qty": {"type": "integer"}}}},
    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    "duplicate_demo": {"type": "object"}}})


def test_nested_values_decode_by_schema() -> None:
    text = (f'{NS}<tool_call>\n{NS}<invoke name="create_order">'
            f"{NS}<user_id>42{NS}</user_id>{NS}<urgent>true{NS}</urgent>"
            f"{NS}<shipping>{NS}<city>Singapore{NS}</city>{NS}<zip>018956{NS}</zip>{NS}</shipping>"
            f"{NS}<items>{NS}<item>{NS}<sku>book-001{NS}</sku>{NS}<qty>2{NS}</qty>{NS}</item>{NS}</items>"
            f"{NS}<metadata>{NS}<source>mobile{NS}</source>{NS}</metadata>"
            f"{NS}<duplicate_demo>{NS}<tag>a{NS}</tag>{NS}<tag>b{NS}</tag>{NS}</duplicate_demo>"
            f"{NS}</invoke>\n{NS}</tool_call>")
    result = parse("minimax_m3", text, tools=(ORDER,))
    assert calls_of(result) == [("create_order", {
        "user_id": 42, "urgent": True, "shipping": {"city": "Singapore", "zip": 18956},
        "items": [{"sku": "book-001", "qty": 2}], "metadata": {"source": "mobile"},
        "duplicate_demo": {"tag": ["a", "b"]}})]


@pytest.mark.parametrize(("text", "schema", "value"), [
    ("", {"type": "array"}, []),
    ("", {"type": "object"}, {}),
    ("", None, ""),
    (f"{NS}<item>x{NS}</item>", {"type": "object"}, {"item": "x"}),  # an object may have a key "item"
    (f"{NS}<a>{NS}<b>1", None, {"a": {"b": "1"}}),  # cut off: what came
])
def test_decode_value(text: str, schema: dict[str, Any] | None, value: Any) -> None:
    assert decode_value(text, schema) == value


def test_a_nested_tag_named_like_its_parameter_does_not_end_it() -> None:
    spec = ToolSpec("f", {"type": "object", "properties": {"item": {"type": "array"}}})
    text = (f'{NS}<tool_call>{NS}<invoke name="f">{NS}<item>{NS}<item>1{NS}</item>{NS}<item>2{NS}</item>{NS}</item>'
            f"{NS}</invoke>{NS}</tool_call>")
    assert calls_of(parse("minimax_m3", text, tools=(spec,))) == [("f", {"item": ["1", "2"]})]


@pytest.mark.parametrize(("text", "content", "calls"), [
    (f"plain {NS}<tool_ca", f"plain {NS}<tool_ca", []),  # a marker cut off is text
    (f"{NS}<tool_call>\n{NS}</user_id> after error", f"{NS}</user_id> after error", []),
    (f'{NS}<tool_call>{NS}<invoke name="get\nweather">{NS}</invoke>{NS}</tool_call>',
     f'{NS}<invoke name="get\nweather">{NS}</invoke>', []),
    # Whitespace between the namespace token and its tag is read as none (as SGLang does).
    (f'{NS}<tool_call>{NS}<invoke name="get_weather">{NS} <city>Oslo{NS}</city>{NS}\n</invoke>{NS}</tool_call>', "",
     [("get_weather", {"city": "Oslo"})]),
])
def test_malformed_and_lenient(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("minimax_m3", text)
    assert (result.content, calls_of(result)) == (content, calls)


def test_cut_off_call_keeps_its_arguments_so_far() -> None:
    result = parse("minimax_m3", f'{NS}<tool_call>{NS}<invoke name="search">{NS}<query>rai', valid_json=False)
    assert result.calls == [{"name": "search", "arguments": '{"query": "rai"'}]


@pytest.mark.parametrize(("prompt", "output", "expected"), [
    ("]~b]ai\n", "<mm:think>Plan.</mm:think>Answer.", ("Plan.", "Answer.")),  # adaptive: the model opens it
    ("]~b]ai\n<mm:think>", "Plan.</mm:think>Answer.", ("Plan.", "Answer.")),  # thinking_mode enabled
    ("]~b]ai\n</mm:think>", "Answer.", ("", "Answer.")),  # disabled
    ("]~b]ai\n", "</mm:think>Answer.", ("", "Answer.")),  # a copied lone closer at the start is markup
    ("]~b]ai\n", "Answer </mm:think> later.", ("", "Answer </mm:think> later.")),  # elsewhere it is text
])
def test_reasoning(prompt: str, output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("minimax_m3")
    assert split_invariant_reasoning(lambda: cls(prompt_text=prompt), output) == expected


def test_auto() -> None:
    for model in ("MiniMaxAI/MiniMax-M3", "MiniMaxAI/MiniMax-M3-MXFP8"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == \
            ("minimax_m3", "minimax_m3")
    assert detect_tool_parser("MiniMaxAI/MiniMax-M2.5", (), None) == "minimax_m2"  # not shadowed
    assert detect_tool_parser("org/fine-tune", [], "{%- set ns_token = ']<]minimax[>[' -%}") == "minimax_m3"
    assert detect_reasoning_parser("org/fine-tune", ["<mm:think>", "</mm:think>"], None) == "minimax_m3"
