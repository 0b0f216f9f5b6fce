"""`auto` for the families added by issue 25 (item 3): model ids and marker fallbacks."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser

IDS = {
    "Salesforce/Llama-xLAM-2-8b-fc-r": (None, "xlam"),
    "Salesforce/xLAM-2-32b-fc-r": (None, "xlam"),
    "ibm-granite/granite-3.3-8b-instruct": (None, "granite"),
    "ibm-granite/granite-4.0-h-small": (None, "granite4"),
    "internlm/internlm2_5-7b-chat": (None, "internlm"),
    "internlm/Intern-S1-mini": (None, "internlm"),
    "tencent/Hunyuan-A13B-Instruct": ("hunyuan_a13b", "hunyuan_a13b"),
    "baidu/ERNIE-4.5-21B-A3B-PT": (None, "ernie45"),
    "meituan-longcat/LongCat-Flash-Chat": (None, "longcat"),
    "ai21labs/AI21-Jamba-1.5-Mini": (None, "jamba"),
    "ai21labs/AI21-Jamba2-3B": (None, "hermes"),
    "ai21labs/AI21-Jamba-Reasoning-3B": (None, "hermes"),
    "microsoft/Phi-4-mini-instruct": (None, "phi4_mini_json"),
    "ibm-granite/granite-3.2-8b-instruct": ("granite", "granite"),
    "baidu/ERNIE-4.5-21B-A3B-Thinking": ("ernie45", "ernie45"),
    "Tele-AI/TeleChat4-36B": ("telechat4", None),
    "poolside/Laguna-XS.2": ("poolside_v1", "poolside_v1"),
    "org/Inkling-Chat": ("inkling", "inkling"),
    "sbintuitions/sarashina2.2-3b-instruct-v0.1": (None, "sarashina"),
    "LLM360/K2-Horizon": ("k2_horizon", "k2_horizon"),
    "muse-glimmer": ("muse", "muse"),
    # Not shadowed: rows above them still win for their own models.
    "OpenGVLab/InternVL3_5-GPT-OSS-20B-A4B-Preview": ("gpt_oss", "gpt_oss"),
    "meta-llama/Llama-3.1-8B-Instruct": (None, "llama3"),
}


@pytest.mark.parametrize(("model_id", "expected"), IDS.items(), ids=list(IDS))
def test_model_ids(model_id: str, expected: tuple[str | None, str | None]) -> None:
    assert (detect_reasoning_parser(model_id, (), None), detect_tool_parser(model_id, (), None)) == expected


@pytest.mark.parametrize(("tokens", "template", "tools"), [
    (["<|action_start|>", "<|plugin|>", "<|action_end|>"], None, "internlm"),
    (["<|tool_call|>", "<|start_of_role|>"], None, "granite"),
    ([], "wrapped in <longcat_tool_call></longcat_tool_call> tags", "longcat"),
])
def test_markers(tokens: list[str], template: str | None, tools: str) -> None:
    assert detect_tool_parser("my-org/fine-tune", tokens, template) == tools
