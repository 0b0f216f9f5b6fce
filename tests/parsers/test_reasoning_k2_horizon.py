"""k2_horizon reasoning: IFM think tags in three spellings (one per effort); a tool group in
an unclosed thought is calls only if the output ends there. The shared think-tag suite
(test_reasoning.py) covers the plain `<ifm|think>` wire."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS, StartState
from sglang_gw.parsers.reasoning.k2_horizon import ENDS, STARTS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import ParserPlan
from tests.parsers.harness import chunkings, split_invariant_reasoning

CALL = ("<ifm|tool_call>get_weather<ifm|arg_key>city</ifm|arg_key><ifm|arg_value>Tokyo</ifm|arg_value>"
        "</ifm|tool_call>")
GROUP = f"<ifm|tool_calls>{CALL}</ifm|tool_calls>"


def run(text: str, prompt: str | None = None) -> tuple[str, str]:
    cls = REASONING_PARSERS.get("k2_horizon")
    return split_invariant_reasoning(lambda: cls(prompt_text=prompt), text)


@pytest.mark.parametrize(("start", "end"), list(zip(STARTS, ENDS, strict=True)))
def test_every_effort_spelling(start: str, end: str) -> None:
    assert run(f"Need lookup.{end}The answer is 42.") == ("Need lookup.", "The answer is 42.")
    assert run(f"{start}Need lookup.{end}The answer is 42.") == ("Need lookup.", "The answer is 42.")
    assert run(f"Need lookup.{end}{end}Answer") == ("Need lookup.", f"{end}Answer")  # only the first ends it
    assert REASONING_PARSERS.get("k2_horizon").start_state(f"<ifm|assistant>{start}", None) is StartState.REASONING
    assert run("Answer.", prompt=f"{start}{end}") == ("", "Answer.")


def outcome(text: str) -> set[tuple[str, str, tuple[tuple[str | None, str], ...]]]:
    """Both parsers as the pipeline wires them, over many splits."""
    results = set()
    for chunks in chunkings(text, seed=11, count=30):
        proc = ParserPlan(REASONING_PARSERS.get("k2_horizon"), TOOL_PARSERS.get("k2_horizon"),
                          (ToolSpec("get_weather"),)).processor()
        deltas = [*(proc.feed(c) for c in chunks), proc.finish()]
        calls = tuple((c.name, c.arguments) for d in deltas for c in d.tool_calls)
        results.add(("".join(d.reasoning for d in deltas), "".join(d.content for d in deltas), calls))
    return results


def test_a_tool_group_ends_an_unclosed_thought_only_at_the_end_of_the_output() -> None:
    call = (("get_weather", '{"city": "Tokyo"}'),)
    assert outcome(f"Need lookup. {GROUP}") == {("Need lookup.", "", call)}
    assert outcome(f"Maybe {GROUP} reconsider</ifm|think>Answer") == {(f"Maybe {GROUP} reconsider", "Answer", ())}
    assert outcome(f"Need lookup.</ifm|think_fast>{GROUP}") == {("Need lookup.", "", call)}
    assert outcome(f"Need lookup. {CALL}") == {(f"Need lookup. {CALL}", "", ())}  # a lone call is no boundary
