"""The GPT-OSS (harmony) tool parser, token-aligned through the real gpt-oss tokenizer."""

from __future__ import annotations

import json

import pytest

from tests.parsers._tool_helpers import calls_of, expected_calls, parse
from tests.parsers.tool_cases import CASES, ToolCase


def call_message(name: str, args: dict, *, first: bool = False) -> str:
    start = "" if first else "<|start|>assistant"
    return (f"{start}<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>"
            f"{json.dumps(args, ensure_ascii=False)}<|call|>")


def render(case: ToolCase) -> str:
    """The reply after the prompt's `<|start|>assistant`: a preamble, then one message per call."""
    if not case.calls:
        return f"<|channel|>final<|message|>{case.before}<|return|>"
    out = f"<|channel|>commentary<|message|>{case.before}<|end|>" if case.before else ""
    return out + "".join(call_message(c.name, c.args, first=not out and i == 0) for i, c in enumerate(case.calls))


def oss(text: str, **kw: object):  # noqa: ANN201
    return parse("gpt_oss", text, family="gpt_oss", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = oss(render(case))
    if case.id == "undeclared":
        assert result.calls == []
        assert result.content == json.dumps(case.calls[0].args)
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


ARGS = '{"city": "Zürich"}'


@pytest.mark.parametrize("text", [
    f"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{ARGS}<|call|>",
    f" to=functions.get_weather<|channel|>commentary json<|message|>{ARGS}<|call|>",
    f"to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>{ARGS}<|call|>",
    f"<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{ARGS}<|call|>",
    f"<|channel|>commentary to=functions.get_weather<|message|>\n{ARGS}\n",  # <|call|> eaten as a stop token
    f"<|channel|>analysis<|message|>thinking<|end|><|start|>assistant<|channel|>commentary "
    f"to=functions.get_weather <|constrain|>json<|message|>{ARGS}<|call|>",
])
def test_header_variants(text: str) -> None:
    result = oss(text)
    assert result.calls == [{"name": "get_weather", "arguments": ARGS}]
    assert result.content in ("", "thinking")


def test_final_channel_after_a_call_and_plain_text() -> None:
    text = (f"<|channel|>commentary to=functions.get_weather<|message|>{ARGS}<|call|>"
            "<|start|>assistant<|channel|>final<|message|>It is 12°C.<|return|>")
    result = oss(text)
    assert result.content == "It is 12°C."
    assert calls_of(result) == [("get_weather", {"city": "Zürich"})]
    assert oss("Just text, to= nobody.").content == "Just text, to= nobody."


def test_builtin_tools_and_empty_arguments() -> None:
    text = ("<|channel|>analysis to=browser.search<|message|>{\"q\": 1}<|call|>"
            "<|start|>assistant<|channel|>commentary to=functions.noop<|message|><|call|>")
    result = oss(text)
    assert result.content == '{"q": 1}'
    assert result.calls == [{"name": "noop", "arguments": "{}"}]


def test_truncated_and_malformed() -> None:
    result = oss('<|channel|>commentary to=functions.search<|message|>{"query": "cut', valid_json=False)
    assert result.calls == [{"name": "search", "arguments": '{"query": "cut'}]
    result = oss("<|channel|>commentary to=functions.sea", valid_json=False)
    assert result.calls == [] and result.content == ""
    result = oss("<|message|>body<|end|><|end|>stray<|channel|>", valid_json=False)
    assert result.calls == [] and result.content == "bodystray"


def test_plain_reply_that_looks_like_a_header_start_is_content() -> None:
    assert oss("to=do list: milk").content == "to=do list: milk"


# -- stray commentary between calls (issue 25, item 4) ----------------------------------
# gpt-oss may write a `commentary` message with no recipient between two calls: a preamble
# ("Now the second city."), an empty one, or a bare header with no `<|message|>`. It must
# neither break nor drop the calls around it. Its text is content, as harmony means
# preambles to be shown (vLLM and SGLang agree; smg files it under reasoning): see
# docs/parsers.md, Divergences from peers.

FIRST = call_message("get_weather", {"city": "Paris"}, first=True)
SECOND = call_message("get_weather", {"city": "東京"})
BOTH = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "東京"})]
START = "<|start|>assistant"


def through_processor(text: str) -> tuple[str, str, list]:
    """Harmony reasoning then the gpt_oss tool parser, as the pipeline runs them; the
    result is checked to be the same however the output is split."""
    from sglang_gw.parsers.reasoning import REASONING_PARSERS
    from sglang_gw.parsers.tools import TOOL_PARSERS
    from sglang_gw.pipeline.parse import ParserPlan
    from tests.parsers._tool_helpers import tokenizer
    from tests.parsers.harness import chunkings
    from tests.parsers.tool_cases import TOOLS

    plan = ParserPlan(reasoning_cls=REASONING_PARSERS.get("gpt_oss"), tool_cls=TOOL_PARSERS.get("gpt_oss"),
                      tools=TOOLS, prompt_text="<|start|>user<|message|>hi<|end|><|start|>assistant")

    def run(chunks: list[str]) -> tuple[str, str, list]:
        proc = plan.processor()
        content, reasoning, calls = "", "", {}
        for d in [proc.feed(c) for c in chunks] + [proc.finish()]:
            content, reasoning = content + d.content, reasoning + d.reasoning
            for c in d.tool_calls:
                entry = calls.setdefault(c.index, [c.name, ""])
                entry[1] += c.arguments
        return content, reasoning, [(n, json.loads(a)) for n, a in (calls[i] for i in sorted(calls))]

    whole = run([text])
    for chunks in chunkings(text, seed=3, tokenizer=tokenizer("gpt_oss")):
        assert run(chunks) == whole, f"split {chunks!r} differs"
    return whole


@pytest.mark.parametrize(("filler", "content", "reasoning"), [
    (f"{START}<|channel|>commentary<|message|>Now the second city.<|end|>", "Now the second city.", ""),
    (f"{START}<|channel|>commentary<|message|>Now the second city.<|call|>", "Now the second city.", ""),
    (f"{START}<|channel|>commentary<|message|>Now the second city.", "Now the second city.", ""),  # no end
    ("<|channel|>commentary<|message|>Now the second city.<|end|>", "Now the second city.", ""),  # no start
    (f"{START}<|channel|>commentary<|message|><|end|>", "", ""),  # empty
    (f"{START}<|channel|>commentary<|end|>", "", ""),  # a header with no body
    (f"{START}<|channel|>commentary", "", ""),  # abandoned at the next <|start|>
    (f"{START} to=functions.get_weather", "", ""),  # a call header abandoned: no call, no body
    (f"{START}<|channel|>commentary<|end|>{START}<|channel|>analysis<|message|>Then Tokyo.<|end|>", "",
     "Then Tokyo."),
    (f"{START}<|channel|>commentary <|constrain|>json<|message|>{{}}<|end|>", "{}", ""),
    ("\n\n", "", ""),
])
def test_commentary_filler_between_calls_keeps_both_calls(filler: str, content: str, reasoning: str) -> None:
    assert through_processor(FIRST + filler + SECOND) == (content, reasoning, BOTH)


@pytest.mark.parametrize("filler", [
    f"{START}<|channel|>commentary<|message|>Now the second city.<|end|>",
    f"{START}<|channel|>commentary<|end|>",
    f"{START}<|channel|>commentary<|message|><|end|>",
    f"{START}<|channel|>commentary",
    f"{START} to=functions.get_weather",
])
def test_commentary_filler_with_the_tool_parser_alone(filler: str) -> None:
    result = oss(FIRST + filler + SECOND)
    assert calls_of(result) == BOTH
    assert result.content in ("Now the second city.", "")


@pytest.mark.parametrize(("body", "arguments"), [
    ("hello world", '"hello world"'),  # text, not JSON: sent as a JSON string
    (" 42 ", "42"),                     # a JSON scalar: as written, trimmed
    ('"quoted"', '"quoted"'),
    ('"cut off', '"cut off'),           # a JSON prefix: the arguments guard completes it
    ("NaN", '"NaN"'),                   # Python reads it; JSON does not
])
def test_body_that_is_no_object_is_held_and_sent_as_json(body: str, arguments: str) -> None:
    result = oss(f"<|channel|>commentary to=functions.search<|message|>{body}<|call|>", valid_json=False)
    assert result.calls == [{"name": "search", "arguments": arguments}]
    assert result.content == ""
