"""inkling (TML): typed messages; thinking bodies are reasoning, text bodies content, tool
frames pass through verbatim for the `inkling` tool parser. Every case runs through every
split of `harness.chunkings`."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS, StartState
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import ParserPlan
from tests.parsers.harness import chunkings, split_invariant_reasoning

M, THINK, TEXT, END = "<|message_model|>", "<|content_thinking|>", "<|content_text|>", "<|end_message|>"
JSON, DONE = "<|content_invoke_tool_json|>", "<|content_model_end_sampling|>"
FRAME = f'{JSON}{{"name":"search","args":{{"q":"rust"}}}}{END}'


def run(text: str, prompt: str | None = None) -> tuple[str, str]:
    cls = REASONING_PARSERS.get("inkling")
    return split_invariant_reasoning(lambda: cls(prompt_text=prompt), text)


@pytest.mark.parametrize(("text", "reasoning", "content"), [
    # smg's typed-output fixture: the call's header is markup, its frame passes through.
    (f"{M}{THINK}check sources{END}{M}{TEXT}Here is the answer.{END}{M}search{FRAME}{DONE}",
     "check sources", f"Here is the answer.{FRAME}"),
    (f"{M}{THINK} a {END}{M}{THINK}b {END}{M}{TEXT} answer {END}", " a b ", " answer "),  # nothing trimmed
    (f"{M}{THINK}cut off", "cut off", ""),
    ("plain text, no framing", "", "plain text, no framing"),
    # <|message_model|> inside an open body is its text; other control tokens are markup.
    (f"{M}{TEXT}quote: {M}x{END}<|endoftext|>", "", f"quote: {M}x"),
    (f"{M}{THINK}think {M}y{END}", f"think {M}y", ""),
    # A text-mode frame passes through too (smg suppresses it).
    (f"{M}<|content_invoke_tool_text|>search rust{END}", "", f"<|content_invoke_tool_text|>search rust{END}"),
    # A header that never reaches its content-type token is text.
    (f"{M}a header cut off", "", f"{M}a header cut off"),
    (f"{M}{'h' * 300}{TEXT}after", "", f"{M}{'h' * 300}after"),
])
def test_inkling_reasoning(text: str, reasoning: str, content: str) -> None:
    assert run(text) == (reasoning, content)


def test_a_prompt_that_opens_the_thought_starts_in_reasoning() -> None:
    prompt = f"<|message_user|>{TEXT}Hi{END}{M}{THINK}"
    assert REASONING_PARSERS.get("inkling").start_state(prompt, None) is StartState.REASONING
    assert run(f"hmm{END}{M}{TEXT}Hello", prompt=prompt) == ("hmm", "Hello")
    assert run(f"{M}{TEXT}Hello", prompt=f"{M}") == ("", "Hello")


def test_both_parsers_together_stream_as_they_parse_whole() -> None:
    """`auto` gives Inkling models both parsers: reasoning first, then calls from the frames."""
    text = (f"{M}{THINK}Look it up.{END}{M}{TEXT}Checking.{END}{M}search{FRAME}"
            f'{M}get_weather{JSON}{{"name":"get_weather","args":{{"city":"Paris"}}}}{END}{DONE}')
    tools = (ToolSpec("search"), ToolSpec("get_weather"))
    results = set()
    for chunks in chunkings(text, seed=3, count=30):
        proc = ParserPlan(REASONING_PARSERS.get("inkling"), TOOL_PARSERS.get("inkling"), tools).processor()
        deltas = [*(proc.feed(c) for c in chunks), proc.finish()]
        calls: dict[int, list[str]] = {}
        for call in (c for d in deltas for c in d.tool_calls):
            entry = calls.setdefault(call.index, [call.name or "", ""])
            entry[1] += call.arguments
        results.add(("".join(d.reasoning for d in deltas), "".join(d.content for d in deltas),
                     tuple((n, a) for n, a in calls.values())))
    assert results == {("Look it up.", "Checking.",
                        (("search", '{"q":"rust"}'), ("get_weather", '{"city":"Paris"}')))}
