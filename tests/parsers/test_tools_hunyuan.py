"""Tencent Hy3 (`hy_v3`, `hunyuan`): the shared cases as its chat template writes calls, in
both spellings of its markers, split every way; its reasoning and `auto` rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, ToolCase

SUFFIXES = ("", ":opensource")


def tag(name: str, suffix: str, close: bool = False) -> str:
    return f"<{'/' if close else ''}{name}{suffix}>"


def hy_call(call: Any, suffix: str) -> str:
    # The template: strings as they are, other values `| tojson`, a newline after each part.
    def value(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    params = "".join(f"{tag('arg_key', suffix)}{k}{tag('arg_key', suffix, True)}\n"
                     f"{tag('arg_value', suffix)}{value(v)}{tag('arg_value', suffix, True)}\n"
                     for k, v in call.args.items())
    return f"{tag('tool_call', suffix)}{call.name}{tag('tool_sep', suffix)}\n{params}{tag('tool_call', suffix, True)}\n"


def render(case: ToolCase, suffix: str) -> str:
    if not case.calls:
        return case.before + case.after
    body = "".join(hy_call(c, suffix) for c in case.calls)
    return f"{case.before}{tag('tool_calls', suffix)}\n{body}{tag('tool_calls', suffix, True)}{case.after}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("suffix", SUFFIXES, ids=["preview", "opensource"])
def test_canonical_cases(case: ToolCase, suffix: str) -> None:
    result = parse("hy_v3", render(case, suffix))
    if case.id == "undeclared":
        assert result.calls == []
        assert result.content == hy_call(case.calls[0], suffix).rstrip("\n")
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_hunyuan_is_the_same_parser() -> None:
    assert TOOL_PARSERS.get("hunyuan") is TOOL_PARSERS.get("hy_v3")
    assert REASONING_PARSERS.get("hunyuan") is REASONING_PARSERS.get("hy_v3")


def test_the_first_block_decides_the_spelling() -> None:
    # After a suffixed block, bare markers are plain text (and the other way round).
    text = render(CASES[1], ":opensource") + " then <tool_calls>x</tool_calls>"
    result = parse("hy_v3", text)
    assert result.content == "then <tool_calls>x</tool_calls>"  # whitespace after a block is markup
    assert len(result.calls) == 1


def test_string_values_stream_before_their_closing_tag() -> None:
    text = render(next(c for c in CASES if c.id == "unicode"), "")
    cut = text.index("naïve") + len("naïve")
    streamed = "".join(c.arguments for c in factory("hy_v3")().feed(text[:cut]).calls)
    assert streamed == '{"city": "Zürich 🌧️ naïve'


def test_a_block_with_a_broken_head_keeps_its_text() -> None:
    text = "a<tool_calls>\n<tool_call>get weather now<tool_call>search<tool_sep>\n</tool_call>\n</tool_calls>b"
    result = parse("hy_v3", text)
    assert calls_of(result) == [("search", {})]
    assert result.content.startswith("a<tool_call>get weather now") and result.content.endswith("b")


def test_truncated_call_keeps_its_arguments_so_far() -> None:
    text = "<tool_calls>\n<tool_call>get_weather<tool_sep>\n<arg_key>city</arg_key>\n<arg_value>Par"
    result = parse("hy_v3", text, valid_json=False)
    assert result.calls == [{"name": "get_weather", "arguments": '{"city": "Par"'}]


@pytest.mark.parametrize(("prompt", "output", "expected"), [
    ("<｜hy_Assistant｜><think>", "Let me see.</think>Hi!", ("Let me see.", "Hi!")),
    ("<｜hy_Assistant｜><think></think>", "Hi!", ("", "Hi!")),  # no_think, the template's default
    ("<｜hy_Assistant:opensource｜><think:opensource>", "Hmm.</think:opensource>Hi!", ("Hmm.", "Hi!")),
    ("<｜hy_Assistant:opensource｜><think:opensource></think:opensource>", "Hi!", ("", "Hi!")),
    ("<｜hy_Assistant:opensource｜>", "<think:opensource>Hmm.</think:opensource>Hi!", ("Hmm.", "Hi!")),
])
def test_reasoning(prompt: str, output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("hy_v3")
    assert split_invariant_reasoning(lambda: cls(prompt_text=prompt), output) == expected


def test_auto() -> None:
    for model in ("tencent/Hy3", "tencent/Hy3-preview"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == ("hy_v3", "hy_v3")
    assert detect_tool_parser("org/fine-tune", ["<tool_sep:opensource>"], None) == "hy_v3"
    assert detect_tool_parser("org/fine-tune", [], "{%- set toolsep_token = '<tool_sep>' %}") == "hy_v3"
    assert detect_reasoning_parser("org/fine-tune", ["<think:opensource>"], None) == "hy_v3"
    # Not Hy3: the older Hunyuan-A13B keeps its own row.
    assert detect_tool_parser("tencent/Hunyuan-A13B-Instruct", (), None) == "hunyuan_a13b"


@pytest.mark.parametrize(("output", "expected"), [
    ("<think>\nLet me think.\n</think>\n<answer>\nHello!\n</answer>", ("Let me think.", "Hello!")),
    ("<think>\n\n</think>\n<answer>\nHi\n</answer>", ("", "Hi")),  # thinking off: an empty block
    ('<think>\nCall.\n</think>\n<answer>\n<tool_calls>[{"name": "noop", "arguments": {}}]</tool_calls>\n</answer>',
     ("Call.", '<tool_calls>[{"name": "noop", "arguments": {}}]</tool_calls>')),
    ("Plain.", ("", "Plain.")),
])
def test_hunyuan_a13b_reasoning(output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("hunyuan_a13b")
    assert split_invariant_reasoning(lambda: cls(prompt_text="<|startoftext|>Hi<|extra_0|>"), output) == expected
