"""NVIDIA Nemotron 3 (`nemotron_v3` and its peer names): `<think>` opened by the prompt unless
`enable_thinking=false`, and Qwen3-Coder XML tool calls (its template's format)."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.detect import detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers._tool_helpers import calls_of, parse
from tests.parsers.harness import split_invariant_reasoning

PEER_NAMES = ("nemotron_v3", "nemotron_3", "nano_v3", "nano-v3", "nemotron-nano", "nemotron-super")
ON = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n"
OFF = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think></think>"


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peer_names_resolve_to_one_parser(name: str) -> None:
    assert REASONING_PARSERS.get(name) is REASONING_PARSERS.get("nemotron_v3")


@pytest.mark.parametrize(("prompt", "enable_thinking", "output", "expected"), [
    (ON, None, "Greeting.\n</think>\nHello!", ("Greeting.", "Hello!")),
    (OFF, None, "Hello!", ("", "Hello!")),
    (ON, None, "Still thinking", ("Still thinking", "")),  # cut off: all reasoning
    # No prompt: thinking is the template's default; enable_thinking=false turns it off.
    (None, None, "Greeting.</think>Hello!", ("Greeting.", "Hello!")),
    (None, False, "Hello!", ("", "Hello!")),
])
def test_reasoning(prompt: str | None, enable_thinking: bool | None, output: str, expected: tuple[str, str]) -> None:
    cls = REASONING_PARSERS.get("nemotron_v3")
    got = split_invariant_reasoning(lambda: cls(prompt_text=prompt, enable_thinking=enable_thinking), output)
    assert got == expected


def test_tool_calls_are_qwen3_coder_xml() -> None:
    # As the template writes a call: each value on its own line inside <parameter=…>.
    text = ("Let me look.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
            "</function>\n</tool_call>\n")
    result = parse("qwen3_coder", text)
    assert (result.content, calls_of(result)) == ("Let me look.\n", [("get_weather", {"city": "Paris"})])


@pytest.mark.parametrize("model", ["nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16",
                                   "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8", "unsloth/Nemotron-3-Nano-4B"])
def test_auto(model: str) -> None:
    assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == \
        ("nemotron_v3", "qwen3_coder")


def test_older_nemotrons_keep_their_rows() -> None:
    # Llama-based Nemotrons are Llama 3.1 fine-tunes.
    assert detect_tool_parser("nvidia/Llama-3.1-Nemotron-70B-Instruct-HF", (), None) == "llama3"


@pytest.mark.parametrize(("text", "content", "calls"), [
    ('Sure.\n<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
     '{"name": "search", "arguments": {"query": "x"}}]</TOOLCALL>', "Sure.",
     [("get_weather", {"city": "Paris"}), ("search", {"query": "x"})]),
    ('<TOOLCALL>[{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}]</TOOLCALL>', "",
     [("get_weather", {"city": "Oslo"})]),  # the template's example writes arguments as a string
    ("<TOOLCALL> is a tag", "<TOOLCALL> is a tag", []),
])
def test_nano_v2_toolcall_tags(text: str, content: str, calls: list[tuple[str, object]]) -> None:
    result = parse("nemotron_json", text)
    assert (result.content, calls_of(result)) == (content, calls)


def test_nano_v2_auto() -> None:
    model = "nvidia/NVIDIA-Nemotron-Nano-9B-v2"
    assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == \
        ("nemotron_v3", "nemotron_json")
    assert detect_tool_parser("org/fine-tune", ["<TOOLCALL>", "</TOOLCALL>"], None) == "nemotron_json"
