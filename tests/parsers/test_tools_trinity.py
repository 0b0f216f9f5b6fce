"""Arcee Trinity: `trinity` is Hermes JSON with think tags dropped (SGLang's Trinity detector;
the Trinity Mini, Nano and Large-Preview templates); Trinity-Large-Thinking writes Qwen3-Coder
XML; `auto` tells them apart by model id and template."""

from __future__ import annotations

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers._tool_helpers import calls_of, parse
from tests.parsers.tool_cases import TOOLS


def test_trinity_reads_hermes_blocks() -> None:
    text = 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    result = parse("trinity", text)
    assert (result.content, calls_of(result)) == ("Checking.", [("get_weather", {"city": "Paris"})])


def test_think_tags_are_dropped_from_content() -> None:
    # A call written inside the thought, the reasoning parser off: SGLang's Trinity detector
    # strips the tags and finds the call.
    text = ('<think>Need weather.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n'
            "</tool_call></think>")
    result = parse("trinity", text)
    assert (result.content, calls_of(result)) == ("Need weather.", [("get_weather", {"city": "Oslo"})])
    assert parse("hermes", text).content.startswith("<think>")  # plain Hermes keeps them


def test_mini_prompt_opens_the_thought_then_a_call() -> None:
    # Trinity-Mini's generation prompt ends `<|im_start|>assistant\n<think>\n`.
    prompt = "<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    output = 'Paris.\n</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    proc = OutputProcessor(REASONING_PARSERS.get("qwen3")(prompt_text=prompt), TOOL_PARSERS.get("trinity")(TOOLS))
    deltas = [proc.feed(output), proc.finish()]
    assert "".join(d.reasoning for d in deltas) == "Paris."
    assert [c.name for d in deltas for c in d.tool_calls if c.name] == ["get_weather"]


def test_auto() -> None:
    ids = {"arcee-ai/Trinity-Mini": ("qwen3", "trinity"), "arcee-ai/Trinity-Nano-Preview": ("qwen3", "trinity"),
           "arcee-ai/Trinity-Large-Preview": ("qwen3", "trinity"),
           "arcee-ai/Trinity-Large-Thinking": ("qwen3", "qwen3_coder")}
    for model, expected in ids.items():
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == expected
