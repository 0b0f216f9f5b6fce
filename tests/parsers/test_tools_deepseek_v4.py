"""DeepSeek V4: DSML under `<｜DSML｜tool_calls>` as its template writes it, the reasoning
parser's implicit end at that block, and `auto`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.detect import choose_reasoning_parser, detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers._tool_helpers import calls_of, expected_calls, parse, tokenizer
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, TOOLS, ToolCase

D = "｜DSML｜"


def param(key: str, value: Any) -> str:
    # The template: strings as they are (string="true"), anything else as JSON.
    if isinstance(value, str):
        return f'<{D}parameter name="{key}" string="true">{value}</{D}parameter>\n'
    return f'<{D}parameter name="{key}" string="false">{json.dumps(value, ensure_ascii=False)}</{D}parameter>\n'


def render(case: ToolCase) -> str:
    invokes = "".join(f'<{D}invoke name="{c.name}">\n' + "".join(param(k, v) for k, v in c.args.items())
                      + f"</{D}invoke>\n" for c in case.calls)
    block = f"\n\n<{D}tool_calls>\n{invokes}</{D}tool_calls>" if case.calls else ""
    return case.before + block + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("deepseek_v4", render(case), family="deepseek_r1")
    if case.id == "undeclared":  # a block with no call in it is content, whole
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before.rstrip() + case.after
    assert calls_of(result) == expected_calls(case)


def test_every_name_is_the_dsml_parser() -> None:
    for name in ("deepseek_v4", "deepseekv4", "deepseek-v4"):
        assert TOOL_PARSERS.get(name) is TOOL_PARSERS.get("deepseek_v32")
    assert REASONING_PARSERS.get("deepseek-v4") is REASONING_PARSERS.get("deepseek_v4")


def test_cut_off_inside_a_string_value_keeps_it_so_far() -> None:
    text = f'<{D}tool_calls>\n<{D}invoke name="get_weather">\n<{D}parameter name="city" string="true">Par'
    result = parse("deepseek_v4", text, valid_json=False, family="deepseek_r1")
    assert result.calls == [{"name": "get_weather", "arguments": '{"city": "Par'}]  # not valid: it was cut


def test_block_with_no_call_is_content_whole() -> None:
    for text in (f"Sure.<{D}tool_calls>\nnot an invoke\n</{D}tool_calls> Done.",
                 f'Sure. <{D}tool_calls>\n<{D}invoke name=broken>\n</{D}invoke>\n</{D}tool_calls>',
                 f"Sure. <{D}tool_calls>\n<{D}invoke name=\"get_wea"):  # cut off before the name ended
        result = parse("deepseek_v4", text, family="deepseek_r1")
        assert (result.content, result.calls) == (text, [])


def test_undeclared_invoke_beside_a_call_stays_in_order() -> None:
    text = (f'<{D}tool_calls>\n<{D}invoke name="launch">\n</{D}invoke>\n<{D}invoke name="noop">\n</{D}invoke>\n'
            f"</{D}tool_calls>")
    result = parse("deepseek_v4", text, family="deepseek_r1")
    assert result.content == f'<{D}invoke name="launch">\n</{D}invoke>'
    assert calls_of(result) == [("noop", {})]


def reasoning(prompt: str, text: str) -> tuple[str, str]:
    cls = REASONING_PARSERS.get("deepseek_v4")
    return split_invariant_reasoning(lambda: cls(prompt_text=prompt), text, tokenizer=tokenizer("deepseek_r1"))


def test_thinking_prompt_then_answer() -> None:
    assert reasoning("<｜User｜>Hi<｜Assistant｜><think>", "Greet back.</think>Hello!") == ("Greet back.", "Hello!")


def test_chat_prompt_closes_the_block() -> None:
    # Thinking off: the template writes `</think>` alone after `<｜Assistant｜>`.
    assert reasoning("<｜User｜>Hi<｜Assistant｜></think>", "Hello!") == ("", "Hello!")


def test_tool_block_without_end_of_thought_ends_reasoning() -> None:
    text = f'I need the weather.<{D}tool_calls>\n<{D}invoke name="get_weather">\n'
    thought, content = reasoning("<｜Assistant｜><think>", text)
    assert thought == "I need the weather."
    assert content.startswith(f"<{D}tool_calls>")


def test_reasoning_then_tool_block_through_the_output_processor() -> None:
    text = (f'I need the weather.<{D}tool_calls>\n<{D}invoke name="get_weather">\n'
            f'<{D}parameter name="city" string="true">Paris</{D}parameter>\n</{D}invoke>\n</{D}tool_calls>')
    proc = OutputProcessor(REASONING_PARSERS.get("deepseek_v4")(prompt_text="<｜Assistant｜><think>"),
                           TOOL_PARSERS.get("deepseek_v4")(TOOLS))
    deltas = [proc.feed(text), proc.finish()]
    assert "".join(d.reasoning for d in deltas) == "I need the weather."
    assert "".join(d.content for d in deltas) == ""
    calls = [c for d in deltas for c in d.tool_calls]
    assert (calls[0].name, "".join(c.arguments for c in calls)) == ("get_weather", '{"city": "Paris"}')


def test_auto() -> None:
    for model in ("deepseek-ai/DeepSeek-V4", "deepseek-ai/DeepSeek-V4-Flash", "/models/DeepSeek-V4-Pro-FP8"):
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == (
            "deepseek_v4", "deepseek_v4")
    # The official template builds `<｜DSML｜tool_calls>` from pieces; V3.2's names `function_calls`.
    template = ("{%- set dsml_token = '｜DSML｜' -%}<｜Assistant｜>{{ thinking_start_token }}"
                "<' + dsml_token + 'tool_calls>")
    assert detect_tool_parser("fine-tune", (), template) == "deepseek_v4"
    assert detect_reasoning_parser("fine-tune", (), template) == "deepseek_v4"
    assert detect_tool_parser("fine-tune", (), "<｜DSML｜function_calls>") == "deepseek_v32"
    assert choose_reasoning_parser("x", (), None, ["DeepseekV4ForCausalLM"]).name == "deepseek_v4"
