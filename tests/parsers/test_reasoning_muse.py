"""muse (Muse Glimmer): `to=self` bodies are reasoning, `to=user` bodies content, messages to
a tool pass through verbatim for the `muse` tool parser. Every case runs through every
split of `harness.chunkings`."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS, StartState
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import ParserPlan
from tests.parsers.harness import chunkings, split_invariant_reasoning

D = "get_weather.get_weather"
CALL = (f'<atem:function_calls>\n<atem:invoke name="{D}">\n<atem:parameter name="city">Paris</atem:parameter>\n'
        "</atem:invoke>\n</atem:function_calls>")
TOOL_MSG = f"<|start|>assistant to={D}<|message|>{CALL}<|eom|>"


def both_parsers() -> object:
    """Both parsers as the pipeline wires them (the reasoning parser is told a tool parser follows)."""
    return ParserPlan(REASONING_PARSERS.get("muse"), TOOL_PARSERS.get("muse"), (ToolSpec("get_weather"),)).processor()


def run(text: str, prompt: str | None = None) -> tuple[str, str]:
    cls = REASONING_PARSERS.get("muse")
    return split_invariant_reasoning(lambda: cls(prompt_text=prompt), text)


@pytest.mark.parametrize(("text", "reasoning", "content"), [
    (" to=self<|message|>Need weather.<|eom|>\n<|start|>assistant to=user<|message|>Sunny.<|eot|>",
     "Need weather.", "Sunny."),
    (f" to=self<|message|>r<|eom|>{TOOL_MSG}<|start|>assistant to=user<|message|>It is sunny.",
     "r", f"{TOOL_MSG}It is sunny."),
    (f" to={D}<|message|>{CALL}", "", f" to={D}<|message|>{CALL}"),  # a bare first header, to a tool
    # A quoted header inside a body is the body's text.
    (" to=self<|message|>I could write <|start|>assistant to=x<|message|> here", "I could write "
     "<|start|>assistant to=x<|message|> here", ""),
    (" to=self<|message|>cut off", "cut off", ""),
    (" to=user<|message|>Hi<|eom|> to=user<|message|>", "", "Hi to=user<|message|>"),  # only the first may be bare
    ("No framing at all.", "", "No framing at all."),
    ("to=x is the syntax.", "", "to=x is the syntax."),
    ("<|start|>assistant with no message", "", "<|start|>assistant with no message"),
    (f"<|start|>{'h' * 300}<|message|>x", "", f"<|start|>{'h' * 300}<|message|>x"),
])
def test_muse_reasoning(text: str, reasoning: str, content: str) -> None:
    assert run(text) == (reasoning, content)


def test_a_prompt_that_opens_the_thought_starts_in_reasoning() -> None:
    prompt = "<|start|>user<|message|>Hi<|eot|><|start|>assistant to=self<|message|>"
    assert REASONING_PARSERS.get("muse").start_state(prompt, None) is StartState.REASONING
    assert run("hmm<|eom|><|start|>assistant to=user<|message|>Hello", prompt=prompt) == ("hmm", "Hello")


@pytest.mark.parametrize("answer_first", [False, True])
def test_both_parsers_together_stream_as_they_parse_whole(answer_first: bool) -> None:
    """`auto` gives Muse models both parsers (wired as the pipeline wires them): the thought
    is reasoning, the call a call, the answer content, before the call or after it."""
    answer = "<|start|>assistant to=user<|message|>Let me check.<|eom|>"
    text = (" to=self<|message|>Need weather.<|eom|>" + (answer + TOOL_MSG if answer_first else TOOL_MSG + answer))
    results = set()
    for chunks in chunkings(text, seed=5, count=30):
        proc = both_parsers()
        deltas = [*(proc.feed(c) for c in chunks), proc.finish()]
        calls = [(c.name, c.arguments) for d in deltas for c in d.tool_calls]
        results.add(("".join(d.reasoning for d in deltas), "".join(d.content for d in deltas), tuple(calls)))
    assert results == {("Need weather.", "Let me check.", (("get_weather", '{"city": "Paris"}'),))}


def test_a_header_quoted_in_the_answer_is_not_a_call() -> None:
    """SGLang's pipeline case: the answer quotes a tool message; with both parsers it stays text."""
    for quoted_at in ("after prose:\n", ""):
        text = f" to=self<|message|>r<|eom|><|start|>assistant to=user<|message|>{quoted_at}{TOOL_MSG[:-7]}"
        for chunks in chunkings(text, seed=7, count=20):
            proc = both_parsers()
            deltas = [*(proc.feed(c) for c in chunks), proc.finish()]
            assert not [c for d in deltas for c in d.tool_calls]
            assert "".join(d.content for d in deltas) == quoted_at + TOOL_MSG[:-7]
