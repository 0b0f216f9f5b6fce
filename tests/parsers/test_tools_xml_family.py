"""XML-style tool parsers (Qwen3-Coder, GLM-4.5/4.7, MiniMax-M2, Step3): the canonical
cases rendered in each wire format, split every way, plus each family's own cases."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sglang_gw.parsers.types import ToolSpec
from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.harness import chunkings, run_tools
from tests.parsers.tool_cases import CASES, ToolCase


def py_str(value: Any) -> str:
    """How Jinja's `| string` prints a value (Python's str)."""
    return str(value)


def json_or_raw(value: Any) -> str:
    """GLM / MiniMax templates: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def qwen_value(value: Any) -> str:
    """Qwen3-Coder template: mappings and lists as JSON, the rest through `| string`."""
    return json.dumps(value) if isinstance(value, (dict, list)) else py_str(value)


def render_qwen3_coder(case: ToolCase) -> str:
    calls = []
    for call in case.calls:
        params = "".join(f"<parameter={k}>\n{qwen_value(v)}\n</parameter>\n" for k, v in call.args.items())
        calls.append(f"<tool_call>\n<function={call.name}>\n{params}</function>\n</tool_call>")
    return case.before + "\n".join(calls) + case.after


def render_glm45(case: ToolCase) -> str:
    calls = []
    for call in case.calls:
        params = "".join(f"<arg_key>{k}</arg_key>\n<arg_value>{json_or_raw(v)}</arg_value>\n"
                         for k, v in call.args.items())
        calls.append(f"<tool_call>{call.name}\n{params}</tool_call>")
    return case.before + "\n".join(calls) + case.after


def render_glm47(case: ToolCase) -> str:
    calls = []
    for call in case.calls:
        params = "".join(f"<arg_key>{k}</arg_key><arg_value>{json_or_raw(v)}</arg_value>"
                         for k, v in call.args.items())
        calls.append(f"<tool_call>{call.name}{params}</tool_call>")
    return case.before + "".join(calls) + case.after


def minimax_invoke(call: Any) -> str:
    params = "".join(f'<parameter name="{k}">{json_or_raw(v)}</parameter>\n' for k, v in call.args.items())
    return f'<invoke name="{call.name}">\n{params}</invoke>'


def render_minimax_m2(case: ToolCase) -> str:
    if not case.calls:
        return case.before + case.after
    body = "\n".join(minimax_invoke(c) for c in case.calls)
    return f"{case.before}<minimax:tool_call>\n{body}\n</minimax:tool_call>{case.after}"


def step3_call(call: Any) -> str:
    params = "".join(f'<steptml:parameter name="{k}">{py_str(v)}</steptml:parameter>' for k, v in call.args.items())
    return (f'<｜tool_call_begin｜>\nfunction<｜tool_sep｜><steptml:invoke name="{call.name}">{params}'
            f"</steptml:invoke><｜tool_call_end｜>")


def render_step3(case: ToolCase) -> str:
    if not case.calls:
        return case.before + case.after
    body = "\n".join(step3_call(c) for c in case.calls)
    return f"{case.before}<｜tool_calls_begin｜>\n{body}\n<｜tool_calls_end｜>{case.after}"


@dataclass(frozen=True)
class Family:
    parser: str
    render: Callable[[ToolCase], str]
    undeclared: Callable[[ToolCase], str]  # the content an undeclared call leaves


FAMILIES = {
    "qwen3_coder": Family("qwen3_coder", render_qwen3_coder, render_qwen3_coder),
    "glm45": Family("glm45", render_glm45, render_glm45),
    "glm47": Family("glm47", render_glm47, render_glm47),
    "minimax_m2": Family("minimax_m2", render_minimax_m2, lambda c: minimax_invoke(c.calls[0])),
    "step3": Family("step3", render_step3, lambda c: step3_call(c.calls[0])),
}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("family", FAMILIES)
def test_canonical_cases(family: str, case: ToolCase) -> None:
    fam = FAMILIES[family]
    result = parse(fam.parser, fam.render(case))
    if case.id == "undeclared":
        assert result.calls == []
        assert result.content == fam.undeclared(case)
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


@pytest.mark.parametrize("family", FAMILIES)
def test_arguments_are_one_compact_form(family: str) -> None:
    case = next(c for c in CASES if c.id == "typed_nested")
    result = parse(FAMILIES[family].parser, FAMILIES[family].render(case))
    args = case.calls[0].args
    assert result.calls[0]["arguments"] == json.dumps(args, ensure_ascii=False)


@pytest.mark.parametrize("family", FAMILIES)
def test_string_values_stream_before_their_closing_tag(family: str) -> None:
    fam = FAMILIES[family]
    case = next(c for c in CASES if c.id == "unicode")
    text = fam.render(case)
    cut = text.index("naïve") + len("naïve")
    parser = factory(fam.parser)()
    streamed = "".join(c.arguments for c in parser.feed(text[:cut]).calls)
    assert streamed.endswith("Zürich 🌧️ naïve"), streamed  # as is: no \\u escapes


# -- Qwen3-Coder ----------------------------------------------------------------------

def qwen3(params: str, name: str = "search") -> str:
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def qparam(key: str, value: str) -> str:
    return f"<parameter={key}>\n{value}\n</parameter>\n"


TYPED = (ToolSpec("t", {"type": "object", "properties": {
    "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"},
    "o": {"type": "object"}, "a": {"type": "array"}, "s": {"type": "string"},
    "ns": {"type": ["string", "null"]}, "ni": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    "e": {"enum": [1, 2, 3]}, "any": {"description": "no type"}}}),)


@pytest.mark.parametrize(("key", "raw", "value"), [
    ("i", "42", 42), ("i", "-7", -7), ("i", "3.0", 3), ("i", "forty", "forty"),
    ("n", "2.5", 2.5), ("n", "1e3", 1000.0), ("n", "7", 7), ("n", "nan", "nan"),
    ("b", "True", True), ("b", "false", False), ("b", "yes", "yes"),
    ("o", '{"k": [1, "x"]}', {"k": [1, "x"]}), ("o", "{'k': True, 'n': None}", {"k": True, "n": None}),
    ("o", "{broken", "{broken"), ("o", "[1]", "[1]"),
    ("a", "[1, 2]", [1, 2]), ("a", "(1, 2)", [1, 2]), ("a", "[NaN]", "[NaN]"),
    ("a", "[1, 1e999]", "[1, 1e999]"), ("o", '{"x": 1e999}', '{"x": 1e999}'),  # no JSON form: kept as text
    ("s", "123", "123"), ("s", "null", "null"), ("s", "  padded  ", "  padded  "),
    ("ns", "null", None), ("ns", "nul", "nul"), ("ns", "nullable", "nullable"), ("ns", "Null", None),
    ("ni", "null", None), ("ni", "5", 5), ("e", "2", 2), ("any", "5", "5"), ("undeclared_param", "5", "5"),
])
def test_qwen3_coder_values_typed_by_schema(key: str, raw: str, value: Any) -> None:
    result = parse("qwen3_coder", qwen3(qparam(key, raw), name="t"), tools=TYPED)
    assert json.loads(result.calls[0]["arguments"]) == {key: value}


def test_qwen3_coder_without_tools_accepts_any_name_and_keeps_strings() -> None:
    result = parse("qwen3_coder", qwen3(qparam("limit", "3") + qparam("q", "x"), name="anything"), tools=())
    assert calls_of(result) == [("anything", {"limit": "3", "q": "x"})]


def test_qwen3_coder_multiline_and_markup_lookalikes_in_values() -> None:
    code = "def f(x):\n    if x < 3 and '</param' in s:\n        return '</parameter >' + \"<parameter=y>\"\n"
    text = "Plan:\n" + qwen3(qparam("query", code) + qparam("limit", "\n2\n"))
    result = parse("qwen3_coder", text)
    assert result.content == "Plan:\n"
    assert calls_of(result) == [("search", {"query": code, "limit": 2})]


def test_qwen3_coder_trims_one_newline_each_side_only() -> None:
    result = parse("qwen3_coder", qwen3("<parameter=query>\n\n  two\n\n</parameter>\n"))
    assert calls_of(result) == [("search", {"query": "\n  two\n"})]
    result = parse("qwen3_coder", qwen3("<parameter=query>x</parameter>"))
    assert calls_of(result) == [("search", {"query": "x"})]


def test_qwen3_coder_text_between_and_after_calls() -> None:
    one = qwen3(qparam("query", "a"))
    result = parse("qwen3_coder", f"Sure.\n{one}\n\n{one}\n\nDone: a < b.")
    assert result.content == "Sure.\nDone: a < b."
    assert len(result.calls) == 2


@pytest.mark.parametrize("text", [
    "<tool_call>\n<function=search>\n<parameter=query>\nhalf a val",
    "<tool_call>\n<function=search>\n<parameter=query>\nhalf a val\n</param",
    "<tool_call>\n<function=search>\n<parameter=limit>\n12",
    "<tool_call>\n<function=search>\n<parameter=que",
    "<tool_call>\n<function=search",
])
def test_qwen3_coder_truncated_call_is_reported(text: str) -> None:
    result = parse("qwen3_coder", text, valid_json=False)
    assert [c["name"] for c in result.calls] == ["search"]
    args = result.calls[0]["arguments"]
    assert args.startswith("{") and not args.endswith("}")
    if "half" in text:
        assert args == '{"query": "half a val"'
    if "12" in text:
        assert args == '{"limit": 12'


@pytest.mark.parametrize(("text", "content"), [
    ("<tool_call>{\"name\": \"search\"}</tool_call>", "<tool_call>{\"name\": \"search\"}</tool_call>"),
    ("a <tool_call> b", "a <tool_call> b"),
    ("<tool_call>\n<function=search>\n<parameter=query>\nx\n</parameter>\n</function>\ntrailing",
     "trailing"),
    ("x <tool_call>\n<funct", "x <tool_call>\n<funct"),
    ("<tool_call>\n<function=get weather>\n</function>\n</tool_call>",
     "<tool_call>\n<function=get weather>\n</function>\n</tool_call>"),
])
def test_qwen3_coder_malformed_output_never_raises(text: str, content: str) -> None:
    result = parse("qwen3_coder", text, valid_json=False)
    assert result.content == content


def test_qwen3_coder_broken_parameter_is_skipped() -> None:
    text = qwen3("<parameter=" + "k" * 2000 + qparam("query", "ok"))
    result = parse("qwen3_coder", text)
    assert calls_of(result) == [("search", {"query": "ok"})]


def test_qwen3_coder_missing_closers_still_close_the_call() -> None:
    text = "<tool_call>\n<function=search>\n" + qparam("query", "a") + "</tool_call>after"
    result = parse("qwen3_coder", text)
    assert calls_of(result) == [("search", {"query": "a"})]
    assert result.content == "after"


# -- GLM --------------------------------------------------------------------------------

def test_glm_values_keep_their_whitespace_and_type() -> None:
    text = ("<tool_call>search\n<arg_key> query </arg_key>\n<arg_value>\n line 1\nline 2 </arg_value>\n"
            "<arg_key>limit</arg_key><arg_value> 5 </arg_value>\n</tool_call>")
    for name in ("glm45", "glm47"):
        assert calls_of(parse(name, text)) == [("search", {"query": "\n line 1\nline 2 ", "limit": 5})]


def test_glm_no_argument_call_in_both_layouts() -> None:
    assert calls_of(parse("glm47", "<tool_call>noop</tool_call>")) == [("noop", {})]
    assert calls_of(parse("glm45", "<tool_call>noop\n</tool_call>")) == [("noop", {})]


def test_glm_value_with_markup_lookalikes() -> None:
    value = "a </arg_key> b <arg_value> c </arg_valu d <tool_call>"
    text = f"<tool_call>search<arg_key>query</arg_key><arg_value>{value}</arg_value></tool_call>"
    assert calls_of(parse("glm47", text)) == [("search", {"query": value})]


def test_glm_truncated() -> None:
    result = parse("glm45", "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par", valid_json=False)
    assert result.calls == [{"name": "get_weather", "arguments": '{"city": "Par"'}]
    result = parse("glm45", "<tool_call>get_weather", valid_json=False)
    assert result.calls == [{"name": "get_weather", "arguments": "{"}]


# -- MiniMax-M2 -----------------------------------------------------------------------------

def test_minimax_mixed_declared_and_undeclared_invokes() -> None:
    text = ('Checking.\n<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">\nOslo\n'
            '</parameter>\n</invoke>\n<invoke name="nope">\n<parameter name="x">1</parameter>\n</invoke>\n'
            '<invoke name="search">\n<parameter name="limit">4</parameter>\n</invoke>\n</minimax:tool_call>')
    result = parse("minimax_m2", text)
    assert result.content == 'Checking.\n<invoke name="nope">\n<parameter name="x">1</parameter>\n</invoke>'
    assert calls_of(result) == [("get_weather", {"city": "Oslo"}), ("search", {"limit": 4})]


def test_minimax_value_lookalikes_and_truncation() -> None:
    value = 'x </parameter y <parameter name="z"> </invoke'
    text = f'<minimax:tool_call><invoke name="search"><parameter name="query">{value}</parameter></invoke>'
    assert calls_of(parse("minimax_m2", text)) == [("search", {"query": value})]
    cut = '<minimax:tool_call>\n<invoke name="search">\n<parameter name="query">abc\n\n'
    result = parse("minimax_m2", cut, valid_json=False)
    assert result.calls == [{"name": "search", "arguments": '{"query": "abc"'}]


# -- Step3 ----------------------------------------------------------------------------------

def test_step3_python_literal_values_and_strings_kept_as_written() -> None:
    text = ('<｜tool_calls_begin｜>\n<｜tool_call_begin｜>\nfunction<｜tool_sep｜><steptml:invoke name="search">'
            '<steptml:parameter name="filters">{\'a\': True, \'b\': None}</steptml:parameter>'
            '<steptml:parameter name="query">  two words \n</steptml:parameter>'
            '<steptml:parameter name="exact">False</steptml:parameter>'
            '</steptml:invoke><｜tool_call_end｜>\n<｜tool_calls_end｜>After.')
    result = parse("step3", text)
    assert calls_of(result) == [("search", {"filters": {"a": True, "b": None}, "query": "  two words \n",
                                            "exact": False})]
    assert result.content == "After."


def test_step3_non_function_type_is_not_a_call() -> None:
    text = "<｜tool_calls_begin｜><｜tool_call_begin｜>python<｜tool_sep｜>print(1)<｜tool_call_end｜><｜tool_calls_end｜>"  # noqa: E501 - a wire-format sample, kept whole
    result = parse("step3", text, valid_json=False)
    assert result.calls == []
    assert result.content == "<｜tool_call_begin｜>python<｜tool_sep｜>print(1)<｜tool_call_end｜>"


def test_step3_reads_the_templates_misspelled_call_marker() -> None:
    text = ('<｜tool_calls_begin｜>\n<｜tool_call_begin>｜>\nfunction<｜tool_sep｜><steptml:invoke name="noop">'
            "</steptml:invoke><｜tool_call_end｜>\n<｜tool_call_begin>｜>\nfunction<｜tool_sep｜>"
            '<steptml:invoke name="nope"></steptml:invoke><｜tool_call_end｜>\n<｜tool_calls_end｜>')
    result = parse("step3", text)
    assert calls_of(result) == [("noop", {})]
    assert result.content == ('<｜tool_call_begin>｜>\nfunction<｜tool_sep｜><steptml:invoke name="nope">'
                              "</steptml:invoke><｜tool_call_end｜>")


# -- marker soup: every parser of this family and its neighbours --------------------------

SOUP = {
    "qwen3_coder": ["<tool_call>", "</tool_call>", "<function=", "search", ">", "</function>", "<parameter=",
                    "limit", "</parameter>", "\n", " ", "x", "3", "<", "null"],
    "glm45": ["<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>",
              "get_weather", "city", "limit", "\n", "x", "3", "<"],
    "minimax_m2": ["<minimax:tool_call>", "</minimax:tool_call>", "<invoke", ' name="', "search", '">',
                   "</invoke>", "<parameter", "limit", "</parameter>", "\n", "x", "3", '"'],
    "step3": ["<｜tool_calls_begin｜>", "<｜tool_calls_end｜>", "<｜tool_call_begin｜>", "<｜tool_call_end｜>",
              "function", "<｜tool_sep｜>", "<steptml:invoke", ' name="', "search", '">', "</steptml:invoke>",
              "<steptml:parameter", "query", "</steptml:parameter>", " ", "x"],
    "pythonic": ["[", "]", "(", ")", "search", "query=", "limit=", '"', "'", '"""', ",", " ", "x", "3", "\\"],
    "gpt_oss": ["<|start|>", "assistant", "<|channel|>", "commentary", " to=functions.", "search", "<|constrain|>",
                "<|message|>", "<|call|>", "<|end|>", "<|return|>", "{", "}", " ", "x"],
    "cohere": ["<|START_ACTION|>", "<|END_ACTION|>", "[", "]", "{", "}", '"tool_name"', '"parameters"', ":", ",",
               '"search"', '"', "\\", " ", "x", "<|START_RESPONSE|>"],
}


SOUP_TOOLS = (ToolSpec("search", {"type": "object", "properties": {"limit": {"type": "integer"}}}),
              ToolSpec("get_weather", {}))


@pytest.mark.parametrize("name", [*SOUP, "glm47"])
def test_marker_soup_never_raises_and_is_split_invariant(name: str) -> None:
    pieces = SOUP.get(name, SOUP["glm45"])
    rng = random.Random(name)
    for n in range(40):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        for tools in (SOUP_TOOLS, ()):
            make = factory(name, tools)
            whole = run_tools(make(), [text]).key()
            for chunks in chunkings(text, seed=n, count=10):
                assert run_tools(make(), chunks).key() == whole, (text, chunks)
