"""OLMo 3: pythonic calls one per line in `<function_calls>`, as the OLMo 3 templates write
them (each value through `tojson`); the Think models' reasoning; and `auto`."""

from __future__ import annotations

import json

import pytest

from sglang_gw.parsers.detect import choose_tool_parser, detect_reasoning_parser, detect_tool_parser
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers._tool_helpers import calls_of, expected_calls, parse, tokenizer
from tests.parsers.harness import split_invariant_reasoning
from tests.parsers.tool_cases import CASES, Call, ToolCase


def olmo_call(call: Call) -> str:
    # The template: name + '(' + ', '.join(key ~ '=' ~ (value | tojson)) + ')'
    return call.name + "(" + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in call.args.items()) + ")"


def render(case: ToolCase) -> str:
    if not case.calls:
        return case.before + case.after
    calls = "\n".join(olmo_call(c) for c in case.calls)
    return case.before + "<function_calls>" + calls + "</function_calls>" + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("olmo3", render(case))
    if case.id == "undeclared":
        assert (result.content, result.calls) == (render(case), [])
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_json_and_python_literals() -> None:
    text = '<function_calls>search(exact=true, filters=null, query="a", score=1.5, tags=["x"])</function_calls>'
    assert calls_of(parse("olmo3", text)) == [("search", {"exact": True, "filters": None, "query": "a",
                                                          "score": 1.5, "tags": ["x"]})]
    python = "<function_calls>search(exact=True, filters=None, query='a')</function_calls>"
    assert calls_of(parse("olmo3", python)) == [("search", {"exact": True, "filters": None, "query": "a"})]


def test_text_after_the_block_is_content() -> None:
    result = parse("olmo3", '<function_calls>noop()</function_calls>\nDone.')
    assert (result.content, calls_of(result)) == ("Done.", [("noop", {})])


def test_a_call_that_does_not_read_makes_the_block_content() -> None:
    text = '<function_calls>get_weather(city="Paris")\nsearch(query=)</function_calls>'
    result = parse("olmo3", text)
    assert (result.content, result.calls) == (text, [])


def test_empty_block_is_content() -> None:
    text = "<function_calls></function_calls>"
    assert (parse("olmo3", text).content, parse("olmo3", text).calls) == (text, [])


def test_cut_off_in_the_closing_tag_keeps_the_calls() -> None:
    result = parse("olmo3", '<function_calls>get_weather(city="Oslo")</function_ca')
    assert calls_of(result) == [("get_weather", {"city": "Oslo"})]


def test_bracket_list_is_not_olmo3() -> None:
    text = '[get_weather(city="Oslo")]'
    assert (parse("olmo3", text).content, parse("olmo3", text).calls) == (text, [])


def reasoning(prompt: str | None, text: str) -> tuple[str, str]:
    cls = REASONING_PARSERS.get("olmo3")
    return split_invariant_reasoning(lambda: cls(prompt_text=prompt), text, tokenizer=tokenizer())


def test_think_prompt_opens_the_thought() -> None:
    prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>"
    assert reasoning(prompt, "The user says hi.</think>Hello!") == ("The user says hi.", "Hello!")
    assert reasoning(None, "<think>The user says hi.</think>Hello!") == ("The user says hi.", "Hello!")


def test_auto() -> None:
    ids = {"allenai/Olmo-3-7B-Think": ("olmo3", "olmo3"), "allenai/Olmo-3-32B-Think": ("olmo3", "olmo3"),
           "allenai/Olmo-3.1-32B-Think": ("olmo3", "olmo3"), "allenai/Olmo-3-7B-Instruct": (None, "olmo3"),
           "allenai/Olmo-3.1-32B-Instruct": (None, "olmo3")}
    for model, expected in ids.items():
        assert (detect_reasoning_parser(model, (), None), detect_tool_parser(model, (), None)) == expected
    think = ("<functions></functions><|im_end|>{% if message.get('function_calls') %}<function_calls>{% endif %}"
             "{{ '<|im_start|>assistant\n<think>' }}")
    assert (detect_reasoning_parser("fine-tune", (), think), detect_tool_parser("fine-tune", (), think)) == (
        "olmo3", "olmo3")
    assert choose_tool_parser("x", (), None, ["Olmo3ForCausalLM"]).name == "olmo3"
