"""Upstage Solar Open 2: sentinel-delimited calls and `<|think:*|>` reasoning, as its template
writes them, split every way; and `auto`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, TOOLS, Call, ToolCase

PROMPT = "<|im:start|>user<|im:content|>Hi<|im:end|>\n<|im:start|>assistant<|im:content|><|think:start|>"


def value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)  # the template: strings as is, else JSON


def solar_call(call: Call) -> str:
    args = "".join(f"<|tool_arg:start|>{k}<|tool_arg:value|>{value(v)}<|tool_arg:end|>\n" for k, v in call.args.items())
    return f"<|tool_call:start|>{call.name}\n{args}<|tool_call:end|>"


def render(case: ToolCase) -> str:
    return case.before + "\n".join(solar_call(c) for c in case.calls) + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("solar_open2", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_value_keeps_its_whitespace() -> None:
    text = ("<|tool_call:start|>search\n<|tool_arg:start|>query<|tool_arg:value|> two\nlines <|tool_arg:end|>\n"
            "<|tool_call:end|>")
    assert calls_of(parse("solar_open2", text)) == [("search", {"query": " two\nlines "})]


def test_start_sentinel_without_a_name_line_is_content() -> None:
    text = "Use <|tool_call:start|> to call."
    assert (parse("solar_open2", text).content, parse("solar_open2", text).calls) == (text, [])


def reasoning(prompt: str, text: str) -> tuple[str, str]:
    cls = REASONING_PARSERS.get("solar_open2")
    return split_invariant_reasoning(lambda: cls(prompt_text=prompt), text)


def test_reasoning_opened_by_the_prompt() -> None:
    assert reasoning(PROMPT, "Greet back.<|think:end|>Hello!") == ("Greet back.", "Hello!")


def test_low_effort_prompt_closes_the_block() -> None:
    assert reasoning(PROMPT + "<|think:end|>", "Hello!") == ("", "Hello!")


def test_tool_call_inside_the_thought_ends_it() -> None:
    text = ("Need weather.<|tool_call:start|>get_weather\n"
            "<|tool_arg:start|>city<|tool_arg:value|>Oslo<|tool_arg:end|>\n<|tool_call:end|>")
    proc = OutputProcessor(REASONING_PARSERS.get("solar_open2")(prompt_text=PROMPT),
                           TOOL_PARSERS.get("solar_open2")(TOOLS))
    deltas = [proc.feed(text), proc.finish()]
    assert "".join(d.reasoning for d in deltas) == "Need weather."
    calls = [c for d in deltas for c in d.tool_calls]
    assert (calls[0].name, "".join(c.arguments for c in calls)) == ("get_weather", '{"city": "Oslo"}')


def test_auto() -> None:
    model = "upstage/Solar-Open2-250B"
    assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == (
        "solar_open2", "solar_open2")
    assert detect_tool_parser("fine-tune", ["<|tool_call:start|>"], None) == "solar_open2"
    assert detect_reasoning_parser("fine-tune", ["<|think:start|>"], "x <|think:start|> y") == "solar_open2"


SEOUL = ("<|tool_call:start|>get_weather\n<|tool_arg:start|>city<|tool_arg:value|>Seoul<|tool_arg:end|>\n"
         "<|tool_call:end|>")


@pytest.mark.parametrize(("text", "first"), [
    # A dropped `<|tool_arg:end|>`: the value ends at the call's end.
    ("<|tool_call:start|>search\n<|tool_arg:start|>query<|tool_arg:value|>oops<|tool_call:end|>", {"query": "oops"}),
    # A dropped `<|tool_call:end|>`: the next call's start ends this one.
    ("<|tool_call:start|>search\n<|tool_arg:start|>query<|tool_arg:value|>rain<|tool_arg:end|>\n", {"query": "rain"}),
    # Both dropped.
    ("<|tool_call:start|>search\n<|tool_arg:start|>query<|tool_arg:value|>rain", {"query": "rain"}),
    # An argument name cut by a boundary gives no key.
    ("<|tool_call:start|>noop\n<|tool_arg:start|>ci<|tool_call:end|>", {}),
])
def test_dropped_end_sentinels_do_not_swallow_the_next_call(text: str, first: dict[str, Any]) -> None:
    result = parse("solar_open2", text + SEOUL)
    assert [args for _, args in calls_of(result)] == [first, {"city": "Seoul"}]


def test_a_name_cut_by_a_boundary_is_content_and_the_next_call_reads() -> None:
    result = parse("solar_open2", "Hmm. <|tool_call:start|>oops" + SEOUL)
    assert (result.content, calls_of(result)) == ("Hmm. <|tool_call:start|>oops", [("get_weather", {"city": "Seoul"})])


def test_a_sentinel_prefix_inside_a_value_is_text() -> None:
    text = ("<|tool_call:start|>search\n<|tool_arg:start|>query<|tool_arg:value|>what does <|tool_call: mean"
            "<|tool_arg:end|>\n<|tool_call:end|>")
    assert calls_of(parse("solar_open2", text)) == [("search", {"query": "what does <|tool_call: mean"})]
