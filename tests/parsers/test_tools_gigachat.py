"""GigaChat 3 / 3.1 (a JSON call after a header) and GigaChat 3.5 (GCML), as the templates
and the peers' tests write them, split every way; and `auto`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, Call, ToolCase

SEP = "<|message_sep|>\n\n"
HEADER_3 = "function call<|role_sep|>\n"  # GigaChat 3: the call is a `function call` turn
HEADER_31 = "<|function_call|>"  # GigaChat 3.1


def call_json(call: Call) -> str:
    # The templates: '{"name": "' ~ name ~ '", "arguments": ' ~ arguments|tojson ~ '}'
    return '{"name": "' + call.name + '", "arguments": ' + json.dumps(call.args, ensure_ascii=False) + "}"


def render(case: ToolCase, header: str) -> str:
    lead = SEP if header == HEADER_3 else ""
    return case.before + "".join(lead + header + call_json(c) for c in case.calls) + case.after


@pytest.mark.parametrize("header", [HEADER_3, HEADER_31], ids=["gigachat3", "gigachat31"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase, header: str) -> None:
    result = parse("gigachat3", render(case, header))
    if case.id == "undeclared":  # the header and object as written (the turn separator is markup)
        assert (result.content, result.calls) == (header + call_json(case.calls[0]), [])
        return
    assert result.content == case.before.rstrip() + case.after
    assert calls_of(result) == expected_calls(case)


def test_end_of_turn_after_the_call_is_markup() -> None:
    text = "I'll check.<|message_sep|>\n\nfunction call<|role_sep|>\n" + '{"name": "noop", "arguments": {}}</s>'
    result = parse("gigachat3", text)
    assert (result.content, calls_of(result)) == ("I'll check.", [("noop", {})])


def test_answer_without_a_call_ends_at_the_turn_separator() -> None:
    assert parse("gigachat3", "Hello there!<|message_sep|>").content == "Hello there!"


def test_header_without_an_object_is_content() -> None:
    text = "Use the function call<|role_sep|> marker like so."
    assert (parse("gigachat3", text).content, parse("gigachat3", text).calls) == (text, [])


def test_broken_json_before_the_name_is_content() -> None:
    text = 'Ok<|function_call|>{"nam: "noop"}'
    result = parse("gigachat3", text)
    assert (result.content, result.calls) == (text, [])


def test_arguments_stream_before_the_object_closes() -> None:
    text = '<|function_call|>{"name": "search", "arguments": {"query": "rain", "limit": 3'
    result = parse("gigachat3", text, valid_json=False)
    assert result.calls == [{"name": "search", "arguments": '{"query": "rain", "limit": 3'}]


G = "｜GCML｜"


def gcml_param(key: str, value: Any) -> str:
    if isinstance(value, str):
        return f'<{G}parameter name="{key}" string="true">{value}</{G}parameter>\n'
    return f'<{G}parameter name="{key}" string="false">{json.dumps(value, ensure_ascii=False)}</{G}parameter>\n'


def render_gcml(case: ToolCase) -> str:
    invokes = "".join(f'<{G}invoke name="{c.name}">\n' + "".join(gcml_param(k, v) for k, v in c.args.items())
                      + f"</{G}invoke>\n" for c in case.calls)
    block = f"<{G}tool_calls>\n{invokes}</{G}tool_calls>" if case.calls else ""
    return case.before + block + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gcml_canonical_cases(case: ToolCase) -> None:
    result = parse("gigachat35", render_gcml(case))
    if case.id == "undeclared":  # a block with no call in it is content, whole
        assert (result.content, result.calls) == (render_gcml(case), [])
        return
    assert result.content == case.before.rstrip() + case.after
    assert calls_of(result) == expected_calls(case)


def test_gcml_does_not_read_deepseek_dsml() -> None:
    text = '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="noop">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>'
    assert (parse("gigachat35", text).content, parse("gigachat35", text).calls) == (text, [])


def test_gigachat35_reasoning_follows_the_prompt() -> None:
    cls = REASONING_PARSERS.get("gigachat35")  # the prompt opens `<think>` when reasoning is on
    thought = split_invariant_reasoning(lambda: cls(prompt_text="assistant<|role_sep|>\n<think>"), "Plan.</think>Hi!")
    plain = split_invariant_reasoning(lambda: cls(prompt_text="assistant<|role_sep|>\n"), "Hi!")
    assert (thought, plain) == (("Plan.", "Hi!"), ("", "Hi!"))


def test_auto() -> None:
    for model, tools in [("ai-sage/GigaChat3-10B-A1.8B", "gigachat3"), ("ai-sage/GigaChat3.1-10B-A1.8B", "gigachat3"),
                         ("ai-sage/GigaChat3-702B-A36B-preview", "gigachat3")]:
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == (None, tools)
    for model in ("ai-sage/GigaChat3.5-Lite", "ai-sage/GigaChat-3.5"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == (
            "gigachat35", "gigachat35")
    # Fine-tunes: the 3.1 template names `<|function_call|>`, the 3 template the `function call` role.
    assert detect_tool_parser("fine-tune", (), 'function_call="<|function_call|>"') == "gigachat3"
    assert detect_tool_parser("fine-tune", (), "{'role': 'function call', 'content': x}") == "gigachat3"
    assert detect_tool_parser("fine-tune", ["<|function_call|>"], None) == "gigachat3"
    assert detect_tool_parser("fine-tune", (), "<｜GCML｜tool_calls>") == "gigachat35"


def test_text_after_a_separator_keeps_its_own_whitespace() -> None:
    text = "Hello.<|message_sep|>\n\nuser<|role_sep|>\nMore?"
    assert parse("gigachat3", text).content == "Hello.\n\nuser<|role_sep|>\nMore?"
