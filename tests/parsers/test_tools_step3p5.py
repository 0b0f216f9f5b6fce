"""Step-3.5: checks that the `step3p5` names are right. Its template (stepfun-ai/Step-3.5-Flash)
asks for Qwen3-Coder's XML with a newline on each side of a value, and its generation
prompt ends `<think>\\n`: the `qwen3_coder` tool parser and the `step3` reasoning parser,
as SGLang and vLLM use."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.tool_cases import CASES, TOOLS, Call, ToolCase


def value(v: Any) -> str:
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return {True: "True", False: "False"}.get(v, str(v)) if isinstance(v, bool) else str(v)


def step_call(call: Call) -> str:
    # The template: '<parameter=' + k + '>\n' + value + '\n</parameter>\n'
    params = "".join(f"<parameter={k}>\n{value(v)}\n</parameter>\n" for k, v in call.args.items())
    return f"<tool_call>\n<function={call.name}>\n{params}</function>\n</tool_call>"


def render(case: ToolCase) -> str:
    return case.before + "".join(step_call(c) for c in case.calls) + case.after


def test_names_resolve_to_the_templates_formats() -> None:
    assert TOOL_PARSERS.get("step3p5") is TOOL_PARSERS.get("qwen3_coder")
    assert REASONING_PARSERS.get("step3p5") is REASONING_PARSERS.get("step3")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("step3p5", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_prompt_opens_the_thought_then_a_call() -> None:
    prompt = "<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    output = "Paris weather.\n</think>\n" + step_call(Call("get_weather", {"city": "Paris"}))
    proc = OutputProcessor(REASONING_PARSERS.get("step3p5")(prompt_text=prompt), TOOL_PARSERS.get("step3p5")(TOOLS))
    deltas = [proc.feed(output), proc.finish()]
    assert "".join(d.reasoning for d in deltas) == "Paris weather."
    assert "".join(d.content for d in deltas).strip() == ""
    assert [c.name for d in deltas for c in d.tool_calls if c.name] == ["get_weather"]


def test_auto() -> None:
    for model in ("stepfun-ai/Step-3.5-Flash", "stepfun-ai/Step-3.5-Flash-FP8"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == (
            "step3", "qwen3_coder")
