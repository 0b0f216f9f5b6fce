"""JSON calls under each new family's wrapper (LongCat, InternLM, Granite 3, Hunyuan/Jamba,
Phi-4-mini, xLAM): the shared cases rendered as the model writes them (chat templates and
the peers' tests), split every way, plus damaged outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sglang_gw.parsers.tools import TOOL_PARSERS
from tests.parsers.harness import split_invariant_tools
from tests.parsers.test_tools_json_family import (
    Format,
    args_json,
    assert_damage_tolerated,
    call_object,
    factory,
    render,
)
from tests.parsers.tool_cases import CASES, ToolCase


def array(prefix: str, suffix: str = "") -> Any:
    return lambda units, before: before + prefix + "[" + ", ".join(units) + "]" + suffix


def block(open_: str, close: str, key: str = "arguments") -> Any:
    return lambda n, a, i: f"{open_}\n{call_object(key)(n, a, i)}\n{close}"


FORMATS = (
    # LongCat-Flash template: one block per call, blocks back to back.
    Format("longcat", "longcat", block("<longcat_tool_call>", "</longcat_tool_call>"),
           lambda units, before: before + ("\n" if before else "") + "".join(units)),
    # InternLM 2.5 / Intern-S1 template: "parameters", a newline between blocks.
    Format("internlm", "internlm", block("<|action_start|><|plugin|>", "<|action_end|>", "parameters"),
           lambda units, before: before + ("\n" if before else "") + "\n".join(units)),
    Format("granite", "granite", call_object("arguments"), array("<|tool_call|>")),
    Format("hunyuan_a13b", "hunyuan_a13b", call_object("arguments"), array("<tool_calls>", "</tool_calls>")),
    Format("jamba", "jamba", call_object("arguments"), array("\n<tool_calls>\n", "\n</tool_calls>")),
    Format("phi4_mini_json", "phi4_mini_json", call_object("arguments"), array("functools")),
    Format("xlam", "xlam", call_object("arguments"), lambda units, _: "[" + ", ".join(units) + "]", before=False),
    # Granite 4, Jamba 2 and ERNIE 4.5 write Hermes blocks.
    Format("granite4", "granite4", block("<tool_call>", "</tool_call>"),
           lambda units, before: before + ("\n" if before else "") + "\n".join(units)),
    Format("ernie45", "ernie45", block("<tool_call>", "</tool_call>"),
           lambda units, before: before + ("\n" if before else "") + "\n".join(units)),
)
IDS = [f.id for f in FORMATS]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_canonical_case(fmt: Format, case: ToolCase) -> None:
    text, content = render(fmt, case)
    if fmt.id == "xlam" and case.id == "undeclared":
        content = text  # a bare array whose first object is no call is all text (`json`)
    result = split_invariant_tools(factory(fmt), text)
    assert result.content == content
    expected = [] if case.id == "undeclared" else list(case.calls)
    assert [(c["name"], json.loads(c["arguments"])) for c in result.calls] == [(c.name, c.args) for c in expected]
    assert all(c["arguments"] == args_json(w.args) for c, w in zip(result.calls, expected, strict=True))


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_truncated_inside_arguments(fmt: Format) -> None:
    text = fmt.wrap([fmt.unit("get_weather", {"city": "Paris", "unit": "c"}, 0)], "")
    result = split_invariant_tools(factory(fmt), text[:text.index("Par") + 3], valid_json=False)
    assert (result.content, result.calls) == ("", [{"name": "get_weather", "arguments": '{"city": "Par'}])


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_no_tools_declared_accepts_any_name(fmt: Format) -> None:
    text = fmt.wrap([fmt.unit("launch_missiles", {"target": "moon"}, 0)], "")
    result = split_invariant_tools(factory(fmt, ()), text)
    assert result.calls == [{"name": "launch_missiles", "arguments": '{"target": "moon"}'}]


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_text_after_calls_is_content(fmt: Format) -> None:
    text = fmt.wrap([fmt.unit("noop", {}, 0)], "Sure.") + "\n\nDone, see above."
    result = split_invariant_tools(factory(fmt), text)
    assert result.content == ("Sure." if fmt.before else "") + "Done, see above."
    assert result.calls == [{"name": "noop", "arguments": "{}"}]


@pytest.mark.parametrize(("parser", "text"), [
    ("phi4_mini_json", "Use functools.partial here; functools is in the standard library."),
    ("granite", "The token <|tool_call|> then prose, not JSON."),
    ("hunyuan_a13b", "<tool_calls>not json</tool_calls>"),
    ("internlm", "<|action_start|><|plugin|>\nnot json\n<|action_end|>"),
])
def test_a_marker_without_calls_is_content(parser: str, text: str) -> None:
    result = split_invariant_tools(lambda: TOOL_PARSERS.get(parser)(()), text)
    assert (result.content, result.calls) == (text, [])


_DEBRIS = ("{", "}", "[", "]", '"', ",", ":", "\n", "<tool_calls>", "</tool_calls>", "<|tool_call|>", "functools",
           "<longcat_tool_call>", "</longcat_tool_call>", "<|action_start|><|plugin|>", "<|action_end|>")


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_damaged_output_never_raises_and_stays_split_invariant(fmt: Format) -> None:
    assert_damage_tolerated(fmt, _DEBRIS, rounds=60)
