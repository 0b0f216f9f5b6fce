"""The pythonic tool parser: canonical cases as `[f(k=v), …]` plus Python-literal cases."""

from __future__ import annotations

import pytest

from tests.parsers._tool_helpers import calls_of, expected_calls, factory, parse
from tests.parsers.tool_cases import CASES, ToolCase


def py_call(call: object) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call.args.items())  # type: ignore[attr-defined]
    return f"{call.name}({args})"  # type: ignore[attr-defined]


def render(case: ToolCase) -> str:
    if not case.calls:
        return case.before + case.after
    return case.before + "[" + ", ".join(py_call(c) for c in case.calls) + "]" + case.after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_canonical_cases(case: ToolCase) -> None:
    result = parse("pythonic", render(case))
    if case.id == "undeclared":
        assert result.calls == [] and result.content == render(case)
        return
    assert result.content == case.before + case.after
    assert calls_of(result) == expected_calls(case)


def test_llama4_wrapper_and_text_around() -> None:
    text = 'Let me look. <|python_start|>[get_weather(city="Oslo")]<|python_end|>\nAnything else?'
    result = parse("pythonic", text)
    assert result.content == "Let me look. Anything else?"
    assert calls_of(result) == [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize(("source", "value"), [
    ("(1, 2)", [1, 2]), ("{'a': None, 'b': True}", {"a": None, "b": True}), ("true", True),
    ('{"x": null}', {"x": None}), ("-1.5e2", -150.0), ("some_variable", "some_variable"),
    ("'''tri\"ple'''", 'tri"ple'), ('"a,b)c]"', "a,b)c]"), ("f(1, 2)", "f(1, 2)"), ("b'x'", "b'x'"),
    ('r"\\d+"', "\\d+"), ("[1, (2, 3)]", [1, [2, 3]]),
])
def test_python_literals(source: str, value: object) -> None:
    result = parse("pythonic", f"[search(query={source})]")
    assert calls_of(result) == [("search", {"query": value})]


def test_positional_arguments_are_skipped_and_undeclared_calls_inside_are_content() -> None:
    text = '[search("pos", limit=2), launch(target="moon", n=(1, 2)), get_weather(city="Rome")] ok'
    result = parse("pythonic", text)
    assert calls_of(result) == [("search", {"limit": 2}), ("get_weather", {"city": "Rome"})]
    assert result.content == 'launch(target="moon", n=(1, 2))ok'


@pytest.mark.parametrize("text", ["[1, 2] and [a, b] and [x(", "[get_weather city]", "[", "[ get_weather"])
def test_lists_that_are_not_calls_are_content(text: str) -> None:
    result = parse("pythonic", text, valid_json=False)
    assert result.calls == [] and result.content == text


def test_a_call_list_is_sent_when_it_closes() -> None:
    # Held whole so a broken sibling later in the list can still make it content.
    parser = factory("pythonic")()
    delta = parser.feed('Sure. [search(query="a", limit=')  # type: ignore[attr-defined]
    assert (delta.content, delta.calls) == ("Sure. ", ())
    assert parser.feed("3), search(query=").calls == ()  # type: ignore[attr-defined]
    delta = parser.feed('"b")] ok')  # type: ignore[attr-defined]
    assert [(c.name, c.arguments) for c in delta.calls] == [("search", '{"query": "a", "limit": 3}'),
                                                            ("search", '{"query": "b"}')]
    assert delta.content == "ok"


@pytest.mark.parametrize(("text", "args"), [
    ('[search(query="unfinished', '{"query": "unfinished"'),
    ('[search(query="a", limit=4', '{"query": "a", "limit": 4'),
    ("[search(", "{"),
])
def test_truncated(text: str, args: str) -> None:
    result = parse("pythonic", text, valid_json=False)
    assert result.calls == [{"name": "search", "arguments": args}]


def test_a_malformed_list_is_content_whole() -> None:
    result = parse("pythonic", '[search(query="a") + 1] tail')
    assert result.calls == [] and result.content == '[search(query="a") + 1] tail'


def test_a_list_cut_off_after_a_comma_keeps_its_calls() -> None:
    result = parse("pythonic", '[search(query="a"), ')
    assert calls_of(result) == [("search", {"query": "a"})] and result.content == ""
