"""No parser flags (`auto`, the default): each tokenizer family gets its reasoning and tool calls
parsed end to end, the mock worker replying with that family's real markup."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest

from sglang_gw.cli_config import config_from_args
from sglang_gw.cli_flags import build_parser
from sglang_gw.testing.models import model_dir
from tests.conftest import RunningGateway

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@dataclass(frozen=True)
class Family:
    reasoning: str | None  # the parser auto must pick
    tools: str
    reply: str
    thought: str | None  # the reasoning_content expected
    cities: tuple[str, ...] = ("Paris", "東京")


def _json_call(city: str, key: str = "arguments") -> str:
    return json.dumps({"name": "get_weather", key: {"city": city}}, ensure_ascii=False)


def _deepseek_call(city: str) -> str:
    return ("<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
            + json.dumps({"city": city}, ensure_ascii=False) + "\n```<｜tool▁call▁end｜>")


FAMILIES = {
    "qwen3": Family("qwen3", "hermes", "<think>\nTwo cities to check.\n</think>\n\n"
                    + "\n".join(f"<tool_call>\n{_json_call(c)}\n</tool_call>" for c in ("Paris", "東京")),
                    "Two cities to check."),
    # Llama 3.1 and Mistral-Nemo do not reason: auto gives them no reasoning parser.
    "llama31": Family(None, "llama3",
                      "<|python_tag|>" + "; ".join(_json_call(c, "parameters") for c in ("Paris", "東京")), None),
    "deepseek_r1": Family("deepseek_r1", "deepseek_v3", "Two cities to check.\n</think>\n\n<｜tool▁calls▁begin｜>"
                          + "\n".join(_deepseek_call(c) for c in ("Paris", "東京")) + "<｜tool▁calls▁end｜>",
                          "Two cities to check."),
    "mistral_nemo": Family(None, "mistral", "[TOOL_CALLS][" + ", ".join(_json_call(c) for c in ("Paris", "東京")) + "]",
                           None),
    "gpt_oss": Family("gpt_oss", "gpt_oss",
                      "<|channel|>analysis<|message|>Two cities to check.<|end|><|start|>assistant"
                      "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                      '{"city": "Paris"}<|call|>', "Two cities to check.", cities=("Paris",)),
}


def test_no_flags_means_auto() -> None:
    args = build_parser().parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1"])
    model = config_from_args(args).model
    assert (model.reasoning_parser, model.tool_call_parser) == ("auto", "auto")


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def auto_gw(request, gateway_factory) -> tuple[Family, RunningGateway]:
    fam = FAMILIES[request.param]
    gw = gateway_factory(folder=model_dir(request.param), script={"WEATHER": fam.reply},
                         reasoning_parser="auto", tool_call_parser="auto")
    return fam, gw


def _ask(**kw):
    return dict(model="test-model", messages=[{"role": "user", "content": "WEATHER in two cities?"}],
                tools=TOOLS, **kw)


def test_auto_picks_the_family_parsers(auto_gw) -> None:
    fam, gw = auto_gw
    model = gw.gateway.models["test-model"]
    from sglang_gw.parsers.reasoning import REASONING_PARSERS
    from sglang_gw.parsers.tools import TOOL_PARSERS
    assert model.reasoning_parser is (REASONING_PARSERS.get(fam.reasoning) if fam.reasoning else None)
    assert model.tool_parser is TOOL_PARSERS.get(fam.tools)


def test_auto_parses_reasoning_and_calls_streamed_and_whole(auto_gw) -> None:
    fam, gw = auto_gw
    whole = gw.client.chat.completions.create(**_ask())
    msg = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls"
    assert msg.model_extra.get("reasoning_content") == fam.thought
    assert not msg.content
    assert [json.loads(c.function.arguments) for c in msg.tool_calls] == [{"city": c} for c in fam.cities]

    reasoning, content, args = "", "", {}
    for chunk in gw.client.chat.completions.create(stream=True, **_ask()):
        for choice in chunk.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            content += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    assert reasoning == (fam.thought or "") and not content
    assert [json.loads(args[i]) for i in sorted(args)] == [{"city": c} for c in fam.cities]


def test_start_up_log_says_which_parser_and_why(caplog: pytest.LogCaptureFixture) -> None:
    from sglang_gw.model import model_from_folder
    from sglang_gw.proto import sglang_scheduler_pb2 as pb

    model = model_from_folder(model_dir("qwen3"), pb.GetModelInfoResponse(model_path="/models/Qwen3-8B"))
    with caplog.at_level(logging.INFO, logger="sglang_gw.model"):
        model.attach_parsers("auto", "none")
    line = caplog.records[-1].getMessage()
    assert "reasoning parser qwen3 (auto: model id '/models/Qwen3-8B' matches" in line
    assert "tool-call parser none (turned off)" in line
    assert model.tool_parser is None


def test_architecture_decides_when_id_and_markers_do_not() -> None:
    from sglang_gw.parsers.detect import choose_reasoning_parser, choose_tool_parser

    r = choose_reasoning_parser("org/renamed", [], None, ["GptOssForCausalLM"])
    t = choose_tool_parser("org/renamed", [], None, ["GptOssForCausalLM"])
    assert (r.name, t.name) == ("gpt_oss", "gpt_oss") and r.reason == "architecture GptOssForCausalLM"
    assert choose_tool_parser("org/renamed", [], None, ["LlamaForCausalLM"]).name is None
