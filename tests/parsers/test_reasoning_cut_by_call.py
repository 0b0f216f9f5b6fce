"""Reasoning cut short by a tool call (issue 25, item 4): `<think>…<tool_call>…</tool_call>`
and the output ends without `</think>` (Qwen3, GLM). Through the real output processor,
each output whole, token by token (real Qwen3 tokenizer) and in 100 seeded chunkings."""

from __future__ import annotations

import json

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.pipeline.parse import ParserPlan, plan_parsers
from tests.parsers._tool_helpers import tokenizer
from tests.parsers.harness import chunkings
from tests.parsers.tool_cases import TOOLS

Result = tuple[str, str, list[tuple[str, str]]]

HERMES = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
CODER = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
BARE = "<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>"
GLM = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"
MINIMAX = '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n</invoke>\n</minimax:tool_call>'  # noqa: E501
PARIS = ("get_weather", '{"city": "Paris"}')
FAMILIES = [("qwen3", "hermes", HERMES), ("qwen3", "qwen3_coder", CODER), ("qwen3", "qwen3_coder", BARE),
            ("glm45", "glm45", GLM), ("glm45", "glm47", GLM), ("minimax", "minimax_m2", MINIMAX)]


def plan(reasoning: str, tools: str, **kw: object) -> ParserPlan:
    return ParserPlan(reasoning_cls=REASONING_PARSERS.get(reasoning), tool_cls=TOOL_PARSERS.get(tools),
                      tools=TOOLS, **kw)  # type: ignore[arg-type]


def run(p: ParserPlan, chunks: list[str]) -> Result:
    proc = p.processor()
    content, reasoning, calls = "", "", {}
    for d in [proc.feed(c) for c in chunks] + [proc.finish()]:
        content += d.content
        reasoning += d.reasoning
        for call in d.tool_calls:
            entry = calls.setdefault(call.index, [call.name, ""])
            entry[1] += call.arguments
    return content, reasoning, [(n, a) for n, a in (calls[i] for i in sorted(calls))]


def parsed(p: ParserPlan, text: str) -> Result:
    """The result of `text`, checked to be the same however it is split."""
    whole = run(p, [text])
    for chunks in chunkings(text, seed=7, tokenizer=tokenizer("qwen3")):
        assert run(p, chunks) == whole, f"split {chunks!r} differs"
    return whole


@pytest.mark.parametrize(("reasoning", "tools", "call"), FAMILIES)
def test_unclosed_block_ending_in_a_complete_call_gives_the_call(reasoning: str, tools: str, call: str) -> None:
    one = parsed(plan(reasoning, tools), f"<think>\nI need the weather.\n{call}")
    assert one == ("", "I need the weather.", [PARIS])
    # Several calls, whitespace around them: all calls.
    two = parsed(plan(reasoning, tools), f"<think>Both.\n\n{call}\n{call}\n\n")
    assert two == ("", "Both.", [PARIS, PARIS])


@pytest.mark.parametrize(("reasoning", "tools", "call"), FAMILIES)
def test_closed_block_with_markup_inside_is_reasoning(reasoning: str, tools: str, call: str) -> None:
    text = f"<think>\nMaybe {call} would do.\n</think>\n\nIt is sunny."
    assert parsed(plan(reasoning, tools), text) == ("It is sunny.", f"Maybe {call} would do.", [])


@pytest.mark.parametrize(("reasoning", "tools", "call"), FAMILIES)
def test_unclosed_block_with_anything_but_whole_calls_is_reasoning(reasoning: str, tools: str, call: str) -> None:
    p = plan(reasoning, tools)
    for tail in (call[: len(call) // 2], call[:-3], f"{call}\nand then more thinking", f"{call} x {call}"):
        assert parsed(p, f"<think>Plan.\n{tail}") == ("", f"Plan.\n{tail}".rstrip(), [])


@pytest.mark.parametrize("tail", [
    '<tool_call>\n{"name": "launch_missiles", "arguments": {}}\n</tool_call>',  # undeclared
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par}\n</tool_call>',  # broken JSON
    "<tool_call>\nnot json\n</tool_call>",
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}',  # never closed
])
def test_blocks_the_tool_parser_does_not_take_as_calls_stay_reasoning(tail: str) -> None:
    assert parsed(plan("qwen3", "hermes"), f"<think>Hmm.\n{tail}") == ("", f"Hmm.\n{tail}", [])


def test_reasoning_before_the_call_streams_and_the_call_waits_for_the_end() -> None:
    proc = plan("qwen3", "hermes").processor()
    first = proc.feed("<think>\nI need the weather.\n")
    held = proc.feed(HERMES)
    assert first.reasoning == "I need the weather." and not held
    last = proc.finish()
    assert [(c.name, c.arguments) for c in last.tool_calls] == [PARIS] and not last.reasoning
    assert proc.has_tool_calls


def test_prompt_opened_block_and_unstreamed_reasoning() -> None:
    # Qwen3-Thinking: the prompt ends `<think>\n`, so the output starts inside the block.
    p = plan("qwen3_thinking", "hermes", prompt_text="<|im_start|>assistant\n<think>\n", stream_reasoning=False)
    assert parsed(p, f"Checking.\n{HERMES}") == ("", "Checking.", [PARIS])


def test_without_tools_or_with_tool_choice_none_it_stays_reasoning() -> None:
    for tools, choice in ((None, None), ([{"type": "function", "function": {"name": "get_weather"}}], "none")):
        p, _ = plan_parsers(reasoning_cls=REASONING_PARSERS.get("qwen3"), tool_cls=TOOL_PARSERS.get("hermes"),
                            tools=tools, tool_choice=choice, parallel_tool_calls=None, separate_reasoning=True,
                            stream_reasoning=True, prompt_text="", enable_thinking=None)
        assert parsed(p, f"<think>Hmm.\n{HERMES}") == ("", f"Hmm.\n{HERMES}", [])


def test_choices_of_one_request_are_independent() -> None:
    p = plan("qwen3", "hermes")
    cut, closed = p.processor(), p.processor()
    out: dict[str, list] = {"cut": [], "closed": []}
    texts = {"cut": f"<think>A.\n{HERMES}", "closed": f"<think>B.\n{HERMES}\n</think>\n\nDone."}
    pieces = {k: [t[i:i + 5] for i in range(0, len(t), 5)] for k, t in texts.items()}
    for i in range(max(len(v) for v in pieces.values())):  # interleaved, as n>1 choices arrive
        for key, proc in (("cut", cut), ("closed", closed)):
            if i < len(pieces[key]):
                out[key].append(proc.feed(pieces[key][i]))
    out["cut"].append(cut.finish())
    out["closed"].append(closed.finish())
    calls = {k: [(c.name, c.arguments) for d in v for c in d.tool_calls] for k, v in out.items()}
    assert calls == {"cut": [PARIS], "closed": []}
    assert "".join(d.reasoning for d in out["closed"]) == f"B.\n{HERMES}"
    assert "".join(d.content for d in out["closed"]) == "Done."
    assert json.loads(calls["cut"][0][1]) == {"city": "Paris"}
