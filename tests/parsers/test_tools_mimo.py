"""MiMo: Qwen3-Coder's XML with values kept verbatim, as the MiMo-V2 templates write calls;
reasoning is Qwen3's `<think>` (the `mimo` reasoning name); and `auto`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import choose_tool_parser, detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers._tool_helpers import calls_of, expected_calls, parse, tokenizer
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, Call, ToolCase


def value(v: Any) -> str:
    # The template: objects and lists as JSON, everything else `| string` (Python's str).
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return {True: "True", False: "False"}.get(v, str(v)) if isinstance(v, bool) else str(v)


def mimo_call(call: Call) -> str:
    params = "".join(f"<parameter={k}>{value(v)}</parameter>\n" for k, v in call.args.items())
    return f"<tool_call>\n<function={call.name}>\n{params}</function>\n</tool_call>"


def render(case: ToolCase) -> str:
    return case.before + "".join(mimo_call(c) for c in case.calls) + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("mimo", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_values_are_kept_exactly_as_written() -> None:
    # "The value enclosed between parameter tags is preserved exactly as-is, including
    # newlines and spaces" (the template); qwen3_coder would drop one newline at each end.
    text = "<tool_call>\n<function=search>\n<parameter=query>\n  two\nlines \n</parameter>\n</function>\n</tool_call>"
    assert calls_of(parse("mimo", text)) == [("search", {"query": "\n  two\nlines \n"})]
    assert calls_of(parse("qwen3_coder", text)) == [("search", {"query": "  two\nlines "})]


def test_typed_values_with_newlines_still_convert() -> None:
    text = "<tool_call>\n<function=search>\n<parameter=limit>\n3\n</parameter>\n</function>\n</tool_call>"
    assert calls_of(parse("mimo", text)) == [("search", {"limit": 3})]


def test_block_without_function_is_content() -> None:
    text = "Note: <tool_call> is how I call tools."
    assert (parse("mimo", text).content, parse("mimo", text).calls) == (text, [])


def test_truncated_call_keeps_its_arguments_so_far() -> None:
    result = parse("mimo", "<tool_call>\n<function=get_weather>\n<parameter=city>Par", valid_json=False)
    assert result.calls == [{"name": "get_weather", "arguments": '{"city": "Par"'}]


def test_reasoning_is_qwen3_think() -> None:
    assert REASONING_PARSERS.get("mimo") is REASONING_PARSERS.get("qwen3")
    cls = REASONING_PARSERS.get("mimo")
    # enable_thinking on: the model opens the block; off: the prompt ends `<think></think>`.
    on = split_invariant_reasoning(lambda: cls(prompt_text="<|im_start|>assistant\n"),
                                   "<think>Plan.</think>Answer.", tokenizer=tokenizer())
    off = split_invariant_reasoning(lambda: cls(prompt_text="<|im_start|>assistant\n<think></think>"),
                                    "Answer.", tokenizer=tokenizer())
    assert (on, off) == (("Plan.", "Answer."), ("", "Answer."))


def test_auto() -> None:
    for model in ("XiaomiMiMo/MiMo-V2-Flash", "XiaomiMiMo/MiMo-V2.5", "XiaomiMiMo/MiMo-V2.5-Pro"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == ("qwen3", "mimo")
    template = ("<function=example_function_name>\n- The value enclosed between parameter tags is preserved "
                "exactly as-is, including newlines and spaces.<tool_call>")
    assert detect_tool_parser("fine-tune", (), template) == "mimo"
    assert detect_tool_parser("fine-tune", (), "<tool_call>\n<function=example>") == "qwen3_coder"
    assert choose_tool_parser("x", (), None, ["MiMoV2FlashForCausalLM"]).name == "mimo"
