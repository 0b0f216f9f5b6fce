"""Seed-OSS: the shared cases as its chat template writes calls, split every way."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, ToolCase


def seed_call(call: Any) -> str:
    # The template: `<parameter=K>` + (the string, or `value | string`) + `</parameter>\n`.
    params = "".join(f"<parameter={k}>{v}</parameter>\n" for k, v in call.args.items())
    return f"<seed:tool_call>\n<function={call.name}>\n{params}</function>\n</seed:tool_call>"


def render(case: ToolCase) -> str:
    # The template puts "\n" before each block; the first one follows `</seed:think>`, whose
    # reasoning parser drops it, so the tool parser sees the calls joined by newlines.
    return case.before + "\n".join(seed_call(c) for c in case.calls) + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("seed_oss", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_model_written_newlines_around_values_are_the_formats() -> None:
    text = "<seed:tool_call>\n<function=search>\n<parameter=query>\nrain\n</parameter>\n<parameter=limit>\n3\n</parameter>\n</function>\n</seed:tool_call>"  # noqa: E501
    assert calls_of(parse("seed_oss", text)) == [("search", {"query": "rain", "limit": 3})]


def test_truncated_call_keeps_its_arguments_so_far() -> None:
    result = parse("seed_oss", "<seed:tool_call>\n<function=get_weather>\n<parameter=city>Par", valid_json=False)
    assert result.calls == [{"name": "get_weather", "arguments": '{"city": "Par"'}]  # the value closed, the object not


def test_reasoning_then_call() -> None:
    cls = REASONING_PARSERS.get("seed_oss")
    text = ("<seed:think>Need the weather.<seed:cot_budget_reflect>used 10</seed:cot_budget_reflect>"
            "</seed:think>Checking.")
    reasoning, content = split_invariant_reasoning(lambda: cls(prompt_text="<seed:bos>assistant\n"), text)
    assert (reasoning, content) == ("Need the weather.<seed:cot_budget_reflect>used 10</seed:cot_budget_reflect>",
                                    "Checking.")


def test_auto() -> None:
    assert detect_tool_parser("ByteDance-Seed/Seed-OSS-36B-Instruct", (), None) == "seed_oss"
    assert detect_reasoning_parser("ByteDance-Seed/Seed-OSS-36B-Instruct", (), None) == "seed_oss"
    assert detect_tool_parser("fine-tune", (), "x<seed:tool_call>y") == "seed_oss"
    assert detect_reasoning_parser("fine-tune", ["<seed:think>"], None) == "seed_oss"
